"""Races on stock movements: concurrent changes keep the history consistent with the stock (PostgreSQL)."""

from __future__ import annotations

import itertools
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.inventory.models import StockMovement
from tests.factories import customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import Buyer
from tests.support.races import race

INVENTORY = "/api/admin/inventory"


def test_concurrent_adjustments_and_sales_leave_a_history_that_adds_up(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: each change records its movement in its own transaction, from what its conditional
    # UPDATE returned (or, for a set, from the quantity read under the row lock). Without the lock a
    # "set to N" racing a "+d" computes its delta from a quantity that has since changed: the deltas no
    # longer add up to the stock, and the chain of quantity_after breaks.
    product = shop.product(None, stock_quantity=100)
    variant_id = product["variants"][0]["id"]
    buyers = [Buyer(app.test_client(), customer(app.test_client())) for _ in range(4)]
    for buyer in buyers:
        buyer.added(2, product_id=product["id"])

    def act(i: int) -> int:
        client = app.test_client()
        if i < 4:
            return int(buyers[i].checkout().status_code)
        # Sets go to 1,000, 2,000, 3,000 and 4,000: the deltas and sales add up to at most 88 units, so no
        # set can find the stock already at its value (a zero change, which records no movement).
        set_to = {"quantity": 1000 * (i // 3 - 1)}
        body: dict[str, Any] = set_to if i % 3 == 0 else {"delta": (-1) ** i * (i + 1)}
        return int(client.put(f"{INVENTORY}/{variant_id}", json=body, headers=shop.headers).status_code)

    statuses = race(16, act)

    assert statuses[:4] == [201] * 4
    assert set(statuses[4:]) == {200}
    quantity, reserved = stock_of(sessions, variant_id)
    with sessions() as session:
        moves = session.scalars(
            select(StockMovement).where(StockMovement.variant_id == variant_id).order_by(StockMovement.id)
        ).all()
    assert len(moves) == 1 + 16  # the initial stock, then one per change
    assert sum(m.delta for m in moves) == quantity
    assert moves[-1].quantity_after == quantity
    for before, after in itertools.pairwise(moves):  # ids follow the row lock's order
        assert after.quantity_after == before.quantity_after + after.delta
    assert reserved == 0
