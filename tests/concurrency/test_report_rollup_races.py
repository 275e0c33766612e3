"""Races on the reports' sales rollup (shopwright.orders.rollup), with real commits on PostgreSQL.

Protection: every change adds to the rollup's rows with one atomic upsert (`INSERT … ON CONFLICT DO
UPDATE SET units = units + excluded.units`), in ascending key order. Payments and refunds of many orders
on the same day and products all land. Replaced by a read-modify-write (read the row, add in Python,
write it back), concurrent transactions overwrite each other's sums and this test fails (the rollup no
longer equals a rebuild, and the reports no longer equal the live definition).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders import rollup
from shopwright.reports import service
from tests.factories import customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer
from tests.support import live_reports
from tests.support.races import race

PAYERS = 12
REFUNDS = 8


def _rows(sessions: sessionmaker[Session]) -> dict[str, set[tuple[Any, ...]]]:
    with sessions() as session:
        days = {
            (r.day, r.orders, r.revenue_cents, r.cost_cents)
            for r in session.scalars(select(rollup.SalesDay))
            if r.orders or r.revenue_cents or r.cost_cents
        }
        products = {
            (r.grain, r.period, r.product_id, r.units, Decimal(r.revenue), r.cost_cents)
            for r in session.scalars(select(rollup.SalesProduct))
            if r.units or r.revenue or r.cost_cents
        }
    return {"days": days, "products": products}


def test_concurrent_payments_and_refunds_on_one_day_and_product_all_land_in_the_rollup(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    rake = shop.product(shop.category()["id"], price_cents=1_000, cost_cents=400, stock_quantity=1_000)
    spade = shop.product(None, price_cents=2_333, cost_cents=900, stock_quantity=1_000)
    client = app.test_client()
    buyers = [Buyer(app.test_client(), customer(client)) for _ in range(PAYERS + REFUNDS)]
    orders = []
    for buyer in buyers:
        buyer.added(2, product_id=rake["id"])
        buyer.added(1, product_id=spade["id"])
        orders.append(buyer.ordered()["id"])
    for buyer, order_id in zip(buyers[PAYERS:], orders[PAYERS:], strict=True):
        assert buyer.pay(order_id).status_code == 200  # paid before the race: refunded during it

    def act(i: int) -> int:
        if i < PAYERS:
            return int(buyers[i].pay(orders[i]).status_code)
        url = f"/api/admin/orders/{orders[i]}/refund"
        # Partial refunds that do not divide the order evenly: NUMERIC shares on every row.
        body = {"amount_cents": 777 + i}
        return int(app.test_client().post(url, json=body, headers=shop.headers).status_code)

    assert Counter(race(PAYERS + REFUNDS, act)) == {200: PAYERS + REFUNDS}

    kept = _rows(sessions)
    with sessions() as session:
        rolled = (
            service.profit_report(session, service.Window()),
            service.product_sales(session, service.Window(), limit=10),
        )
        live = (
            live_reports.profit_report(session, service.Window()),
            live_reports.product_sales(session, service.Window(), limit=10),
        )
    rollup.rebuild(sessions())
    assert kept == _rows(sessions)
    assert rolled[0].orders == live[0].orders == PAYERS + REFUNDS
    assert (rolled[0].revenue_cents, rolled[0].cost_cents) == (live[0].revenue_cents, live[0].cost_cents)
    assert [(p.product_id, p.units, p.revenue_cents) for p in rolled[1]] == [
        (p.product_id, p.units, p.revenue_cents) for p in live[1]
    ]
