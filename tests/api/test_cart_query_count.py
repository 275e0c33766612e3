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
    shop: Shop, client: FlaskClient, log: StatementLog
) -> None:
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


def test_reading_adding_and_removing_cost_fixed_statements(
    shop: Shop, client: FlaskClient, committed_db: Engine, log: StatementLog
) -> None:
    shopper, extra = _shopper_with_lines(shop, client, 3)
    shopper.get()  # the cart exists and is live

    read = log.count(shopper.get)
    added: dict[str, Any] = {}
    add = log.count(lambda: added.update(shopper.added(1, product_id=extra["id"])))
    line = next(item for item in added["items"] if item["product_id"] == extra["id"])
    remove = log.count(
        lambda: shopper.client.delete(f"{CART}/items/{line['id']}", headers=shopper.account.headers)
    )

    # SQLite issues its own BEGIN for every transaction (see db.make_engine); the SQLite app of the tests
    # has no Redis, so the revocation list is read from the database first (a BEGIN and a SELECT).
    begin = 3 if committed_db.dialect.name == "sqlite" else 0
    # read: the active cart joined with its lines (no lock; on PostgreSQL no transaction either). add:
    # lock the cart, reserve (the UPDATE checks the variant can be bought), upsert the line, the lines,
    # the cart's expiry. remove: lock, delete the line (RETURNING what it held), release, lines, expiry.
    assert (read, add, remove) == (begin + 1, begin + 5, begin + 5)
