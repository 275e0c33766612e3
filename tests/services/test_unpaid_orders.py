"""The unpaid-order sweep, with a controllable clock (`now`) instead of sleeping."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import utcnow
from shopwright.orders import cancellation
from shopwright.orders.models import Order
from tests.factories import customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import Buyer

TIMEOUT = timedelta(minutes=30)


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(shop.category()["id"], stock_quantity=10)


def _statuses(sessions: sessionmaker[Session]) -> dict[int, str]:
    with sessions() as session:
        return {row.id: row.status for row in session.execute(select(Order.id, Order.status))}


def test_unpaid_orders_past_the_timeout_are_cancelled_and_restocked(
    app: Flask, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    client = app.test_client()
    unpaid, paid = Buyer(client, customer(client)), Buyer(client, customer(client))
    stale = unpaid.buy(product["id"], 3)
    settled = paid.buy(product["id"], 2)
    assert paid.pay(settled["id"]).status_code == 200
    gateway = app.extensions["shopwright.gateway"]
    variant_id = product["variants"][0]["id"]
    assert stock_of(sessions, variant_id) == (5, 0)

    with sessions() as session:
        early = cancellation.cancel_unpaid_orders(
            session, gateway, timeout=TIMEOUT, now=utcnow() + TIMEOUT / 2
        )
        late = cancellation.cancel_unpaid_orders(
            session, gateway, timeout=TIMEOUT, now=utcnow() + TIMEOUT * 2
        )
        again = cancellation.cancel_unpaid_orders(
            session, gateway, timeout=TIMEOUT, now=utcnow() + TIMEOUT * 3
        )

    assert (early, late, again) == (0, 1, 0)
    assert _statuses(sessions) == {stale["id"]: "cancelled", settled["id"]: "paid"}
    assert stock_of(sessions, variant_id) == (8, 0)


def test_the_sweep_works_in_batches_and_through_the_cli(
    app: Flask, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    client = app.test_client()
    for _ in range(3):
        Buyer(client, customer(client)).buy(product["id"])
    with sessions() as session, session.begin():
        for order in session.scalars(select(Order)):
            order.created_at = utcnow() - 2 * TIMEOUT

    result = app.test_cli_runner().invoke(args=["cancel-unpaid-orders"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Cancelled 3 unpaid order(s)"
    assert set(_statuses(sessions).values()) == {"cancelled"}
    assert stock_of(sessions, product["variants"][0]["id"]) == (10, 0)
