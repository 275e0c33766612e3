"""Query budgets of the cart: reading and changing it sends a fixed number of statements, however many
lines it holds (no N+1)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.factories import customer
from tests.factories.cart import CART, Shopper
from tests.factories.catalog import Shop
from tests.support.statements import StatementLog


def _shopper_with_lines(shop: Shop, client: FlaskClient, lines: int) -> tuple[Shopper, dict[str, Any]]:
    category = shop.category()
    shopper = Shopper(client, customer(client))
    for _ in range(lines):
        shopper.added(1, product_id=shop.product(category["id"], stock_quantity=100)["id"])
    extra = shop.product(category["id"], stock_quantity=100)
    return shopper, extra


def test_cart_statements_do_not_grow_with_its_lines(
    shop: Shop, client: FlaskClient, committed_db: Engine
) -> None:
    log = StatementLog([committed_db])
    budgets = []
    for lines in (1, 25):
        shopper, extra = _shopper_with_lines(shop, client, lines)
        read = log.count(shopper.get)
        add = log.count(lambda shopper=shopper, extra=extra: shopper.added(1, product_id=extra["id"]))
        clear = log.count(
            lambda shopper=shopper: shopper.client.delete(CART, headers=shopper.account.headers)
        )
        # Clearing releases each variant with its own conditional UPDATE, in variant order (sorted row locks):
        # one statement per line, on top of a constant.
        budgets.append((read, add, clear - lines))
    assert budgets[0] == budgets[1], (
        f"statements for 1 line vs 25 lines (read, add, clear - lines): {budgets}"
    )
