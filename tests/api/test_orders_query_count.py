"""Query budget of checkout and order reads: a constant, plus one stock UPDATE per line at checkout."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.factories import customer
from tests.factories.catalog import Shop
from tests.factories.orders import ORDERS, Buyer
from tests.support.statements import StatementLog


def _buyer_with_lines(shop: Shop, client: FlaskClient, lines: int) -> Buyer:
    category = shop.category()
    buyer = Buyer(client, customer(client))
    for _ in range(lines):
        # 1.00 each: every order pays shipping, so each checkout also updates its totals once
        buyer.added(1, product_id=shop.product(category["id"], price_cents=100, stock_quantity=100)["id"])
    return buyer


def test_checkout_costs_a_constant_plus_one_statement_per_line(
    shop: Shop, client: FlaskClient, committed_db: Engine
) -> None:
    log = StatementLog([committed_db])
    costs = {}
    for lines in (1, 10):
        buyer = _buyer_with_lines(shop, client, lines)
        costs[lines] = log.count(buyer.ordered)
    # Per line: the conditional stock UPDATE (sold from reserved, in variant order). The lines go in one
    # batched INSERT on both databases (Core insertmanyvalues).
    assert costs[10] - costs[1] == 9, costs
    # PostgreSQL: cart lock, lines, order, items, stock, cart, event. SQLite adds a BEGIN IMMEDIATE for the
    # token revocation read (no Redis), that read, and the checkout's own BEGIN IMMEDIATE.
    assert costs[1] <= (7 if committed_db.dialect.name == "postgresql" else 10), costs


def test_order_history_reads_a_constant_number_of_statements(
    shop: Shop, client: FlaskClient, committed_db: Engine
) -> None:
    log = StatementLog([committed_db])
    buyer = _buyer_with_lines(shop, client, 3)
    buyer.ordered()
    read = lambda: buyer.client.get(ORDERS, headers=buyer.account.headers)  # noqa: E731
    one = log.count(read)
    for _ in range(4):
        buyer.added(2, product_id=shop.product(shop.category()["id"])["id"])
        buyer.ordered()
    assert log.count(read) == one
