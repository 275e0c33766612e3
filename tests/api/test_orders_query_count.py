"""Query budget of checkout and order reads: a constant, plus one stock UPDATE per line at checkout."""

from __future__ import annotations

from collections.abc import Callable

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
    # The request's own statements: its event's delivery (after the response, or in a worker) is counted
    # apart, below.
    deliveries: list[Callable[[], object]] = []
    box = shop.app.extensions["shopwright.outbox"]
    box.defer = deliveries.append
    costs, delivery_costs = {}, {}
    for lines in (1, 10):
        buyer = _buyer_with_lines(shop, client, lines)
        box.deliver_pending()  # the products' own events
        deliveries.clear()
        costs[lines] = log.count(buyer.ordered)
        delivery_costs[lines] = log.count(lambda: [deliver() for deliver in deliveries])
    # Per line: the conditional stock UPDATE (sold from reserved, in variant order). The lines go in one
    # batched INSERT on both databases (Core insertmanyvalues).
    assert costs[10] - costs[1] == 9, costs
    # The confirmation email and webhooks of the order cost the same however many lines it has.
    assert delivery_costs[10] == delivery_costs[1], delivery_costs
    # PostgreSQL: cart lock, lines, order, items, stock, the stock movements (one INSERT for every line),
    # cart, event. SQLite adds a BEGIN IMMEDIATE for the token revocation read (no Redis), that read, and
    # the checkout's own BEGIN IMMEDIATE.
    assert costs[1] <= (8 if committed_db.dialect.name == "postgresql" else 11), costs


def test_order_history_reads_a_constant_number_of_statements(
    shop: Shop, client: FlaskClient, committed_db: Engine, log: StatementLog
) -> None:
    buyer = _buyer_with_lines(shop, client, 3)
    buyer.ordered()
    read = lambda: buyer.client.get(ORDERS, headers=buyer.account.headers)  # noqa: E731
    one = log.count(read)
    # The orders, their lines, their payments (on SQLite, with the revocation list's BEGIN and SELECT and
    # the session's own BEGIN: its app has no Redis).
    assert one == (3 if committed_db.dialect.name == "postgresql" else 6), log.statements
    for _ in range(4):
        buyer.added(2, product_id=shop.product(shop.category()["id"])["id"])
        buyer.ordered()
    assert log.count(read) == one
