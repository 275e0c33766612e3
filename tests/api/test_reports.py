"""Back-office reports and dashboard (docs/backoffice.md): what counts, windows, shares, roles, bad input.

Orders are placed and paid through the API; only `paid_at` is moved in the database, to place payments
at exact instants around a window's edges (and the sales rollup is told, as a use case would tell it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders import rollup
from shopwright.orders.models import Order
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import RefundResult, TestGateway
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

REPORTS = "/api/admin/reports"
ENDPOINTS = [
    f"{REPORTS}/profit",
    f"{REPORTS}/product-sales",
    f"{REPORTS}/category-sales",
    "/api/admin/dashboard",
    "/api/admin/orders/export",
]
NOON = "2026-03-10T12:00:00+00:00"


@pytest.fixture
def catalog(shop: Shop) -> dict[str, Any]:
    """Garden (A) with its sub-category Tools (B), and C without a category."""
    garden = shop.category("Garden")
    tools = shop.category("Tools", parent_id=garden["id"])
    return {
        "garden": garden,
        "tools": tools,
        "a": shop.product(garden["id"], "Rake", price_cents=1_000, cost_cents=400, stock_quantity=50),
        "b": shop.product(tools["id"], "Spade", price_cents=2_500, cost_cents=1_000, stock_quantity=50),
        "c": shop.product(None, "Seeds", price_cents=300, cost_cents=100, stock_quantity=50),
    }


def _paid_at(sessions: sessionmaker[Session], order_id: int, when: str) -> None:
    with sessions() as session, session.begin():
        session.execute(
            update(Order).where(Order.id == order_id).values(paid_at=datetime.fromisoformat(when))
        )
        # Moved behind the use cases' back: the rollup is told, as a use case would tell it.
        rollup.sync_order(session, order_id)


def _paid(
    buyer: Buyer, sessions: sessionmaker[Session], lines: list[tuple[dict[str, Any], int]], when: str = NOON
) -> dict[str, Any]:
    for product, quantity in lines:
        buyer.added(quantity, product_id=product["id"])
    order = buyer.ordered()
    assert buyer.pay(order["id"]).status_code == 200
    _paid_at(sessions, order["id"], when)
    return order


def _status(shop: Shop, order_id: int, *statuses: str) -> None:
    for status in statuses:
        response = shop.client.put(
            f"/api/admin/orders/{order_id}/status", json={"status": status}, headers=shop.headers
        )
        assert response.status_code == 200, response.json


def _refund(shop: Shop, order_id: int, amount_cents: int | None = None) -> None:
    body = {} if amount_cents is None else {"amount_cents": amount_cents}
    response = shop.client.post(f"/api/admin/orders/{order_id}/refund", json=body, headers=shop.headers)
    assert response.status_code == 200, response.json


def _get(shop: Shop, path: str, **params: str) -> dict[str, Any]:
    response = shop.client.get(path, query_string=params, headers=shop.headers)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


@pytest.fixture
def mixed(
    shop: Shop, catalog: dict[str, Any], client: FlaskClient, sessions: sessionmaker[Session]
) -> dict[str, Any]:
    """Three counted orders of two customers, and one of each status that does not count."""
    ann, bob = Buyer(client, customer(client)), Buyer(client, customer(client))
    a, b, c = catalog["a"], catalog["b"], catalog["c"]
    _paid(ann, sessions, [(a, 2)])  # paid: 2000, cost 800
    shipped = _paid(ann, sessions, [(b, 1)])  # shipped: 2500, cost 1000
    _status(shop, shipped["id"], "shipped")
    delivered = _paid(bob, sessions, [(c, 3)])  # delivered: 900, cost 300
    _status(shop, delivered["id"], "shipped", "delivered")
    bob.buy(a["id"], 1)  # pending: never paid
    cancelled = _paid(bob, sessions, [(b, 1)])
    _status(shop, cancelled["id"], "cancelled")
    refunded = _paid(bob, sessions, [(a, 1)])
    _refund(shop, refunded["id"])  # refunded in full: status refunded
    return catalog


# --- what counts -------------------------------------------------------------------------------------
def test_profit_counts_paid_shipped_and_delivered_orders_only(shop: Shop, mixed: dict[str, Any]) -> None:
    assert _get(shop, f"{REPORTS}/profit") == {
        "revenue_cents": 5_400,
        "cost_cents": 2_100,
        "profit_cents": 3_300,
        "orders": 3,
    }


def test_product_sales_are_best_first_with_shares_of_the_window(shop: Shop, mixed: dict[str, Any]) -> None:
    items = _get(shop, f"{REPORTS}/product-sales")["items"]
    assert [(i["name"], i["units"], i["revenue_cents"]) for i in items] == [
        ("Spade", 1, 2_500),
        ("Rake", 2, 2_000),
        ("Seeds", 3, 900),
    ]
    assert [i["product_id"] for i in items] == [mixed["b"]["id"], mixed["a"]["id"], mixed["c"]["id"]]
    assert [i["revenue_percent"] for i in items] == [46.3, 37.04, 16.67]
    assert [i["units_percent"] for i in items] == [16.67, 33.33, 50.0]
    for key in ("revenue_percent", "units_percent"):
        assert sum(i[key] for i in items) == pytest.approx(100, abs=0.01 * len(items))


def test_product_sales_limit_keeps_the_shares_of_the_whole_window(shop: Shop, mixed: dict[str, Any]) -> None:
    items = _get(shop, f"{REPORTS}/product-sales", limit="1")["items"]
    assert [(i["name"], i["revenue_percent"]) for i in items] == [("Spade", 46.3)]


def test_category_sales_count_each_product_under_its_own_category(shop: Shop, mixed: dict[str, Any]) -> None:
    items = _get(shop, f"{REPORTS}/category-sales")["items"]
    garden, tools = mixed["garden"], mixed["tools"]
    assert items == [
        {
            "category_id": tools["id"],
            "parent_id": garden["id"],
            "name": "Tools",
            "units": 1,
            "revenue_cents": 2_500,
            "revenue_percent": 46.3,
        },
        {
            "category_id": garden["id"],
            "parent_id": None,
            "name": "Garden",
            "units": 2,
            "revenue_cents": 2_000,
            "revenue_percent": 37.04,
        },
        {
            "category_id": None,
            "parent_id": None,
            "name": None,
            "units": 3,
            "revenue_cents": 900,
            "revenue_percent": 16.67,
        },
    ]


def test_the_dashboard_follows_the_same_rules(shop: Shop, mixed: dict[str, Any]) -> None:
    body = _get(shop, "/api/admin/dashboard", low_stock_threshold="47")
    assert body["revenue_cents"] == 5_400
    assert body["orders_by_status"] == {
        "pending": 1,
        "paid": 1,
        "shipped": 1,
        "delivered": 1,
        "cancelled": 1,
        "refunded": 1,
    }
    assert body["average_order_value_cents"] == 1_800
    assert body["customers"] == 2
    assert [p["name"] for p in body["top_products"]] == ["Spade", "Rake", "Seeds"]
    assert body["revenue_by_day"] == [{"date": "2026-03-10", "revenue_cents": 5_400, "orders": 3}]
    # Rake: 50 - 2 - 1 (pending) - 1 (refunded: a refund restocks nothing); Spade 49 is above the bar.
    low = {row["sku"]: row["available"] for row in body["low_stock"]}
    assert low == {mixed["a"]["variants"][0]["sku"]: 46, mixed["c"]["variants"][0]["sku"]: 47}


def test_a_partial_refund_is_subtracted_from_revenue(
    shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    order = _paid(buyer, sessions, [(catalog["a"], 2), (catalog["b"], 2)])  # goods 7000
    _refund(shop, order["id"], 700)

    assert buyer.order(order["id"])["status"] == "paid"
    assert _get(shop, f"{REPORTS}/profit") == {
        "revenue_cents": 6_300,
        "cost_cents": 2_800,
        "profit_cents": 3_500,
        "orders": 1,
    }
    # The refund is shared pro rata to the line totals: 2000 → 1800, 5000 → 4500.
    items = _get(shop, f"{REPORTS}/product-sales")["items"]
    assert [(i["name"], i["revenue_cents"]) for i in items] == [("Spade", 4_500), ("Rake", 1_800)]
    assert _get(shop, "/api/admin/dashboard")["revenue_cents"] == 6_300


def test_a_refund_of_more_than_the_goods_leaves_revenue_at_zero(
    shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    order = _paid(buyer, sessions, [(catalog["c"], 1)])  # goods 300 + shipping 500
    _refund(shop, order["id"], 600)  # shipping refunded too

    assert _get(shop, f"{REPORTS}/profit") == {
        "revenue_cents": 0,
        "cost_cents": 100,
        "profit_cents": -100,
        "orders": 1,
    }


def test_revenue_is_goods_minus_the_discount_shared_pro_rata(
    shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    voucher = {"code": "TENPC", "kind": "percent", "percent_off": 10}
    assert shop.client.post("/api/admin/vouchers", json=voucher, headers=shop.headers).status_code == 201
    buyer.added(1, product_id=catalog["a"]["id"])
    buyer.added(1, product_id=catalog["b"]["id"])
    order = buyer.ordered(voucher_code="TENPC")
    assert (order["subtotal_cents"], order["discount_cents"]) == (3_500, 350)
    assert buyer.pay(order["id"]).status_code == 200

    assert _get(shop, f"{REPORTS}/profit")["revenue_cents"] == 3_150  # shipping and tax are not revenue
    items = _get(shop, f"{REPORTS}/product-sales")["items"]
    assert [(i["name"], i["revenue_cents"]) for i in items] == [("Spade", 2_250), ("Rake", 900)]


def test_cost_is_the_snapshot_at_checkout_not_todays_cost(
    shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    _paid(buyer, sessions, [(catalog["a"], 1)])
    shop.update(catalog["a"]["id"], cost_cents=999)

    assert _get(shop, f"{REPORTS}/profit")["cost_cents"] == 400


# --- windows -----------------------------------------------------------------------------------------
def test_a_window_holds_its_first_and_last_day_whole_and_nothing_else(
    shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    for when in (
        "2026-02-28T23:59:59.999999+00:00",  # before
        "2026-03-01T00:00:00+00:00",  # first instant
        "2026-03-31T23:59:59.999999+00:00",  # last instant
        "2026-04-01T00:00:00+00:00",  # after
    ):
        _paid(buyer, sessions, [(catalog["a"], 1)], when)

    march = {"from": "2026-03-01", "to": "2026-03-31"}
    assert _get(shop, f"{REPORTS}/profit", **march)["orders"] == 2
    assert _get(shop, f"{REPORTS}/profit", **{"from": "2026-03-01"})["orders"] == 3
    assert _get(shop, f"{REPORTS}/profit", to="2026-03-31")["orders"] == 3
    assert _get(shop, f"{REPORTS}/profit", **{"from": "2026-04-01", "to": "2026-04-01"})["orders"] == 1
    assert _get(shop, f"{REPORTS}/profit")["orders"] == 4
    days = _get(shop, "/api/admin/dashboard", **march)["revenue_by_day"]
    assert len(days) == 31
    assert days[0] == {"date": "2026-03-01", "revenue_cents": 1_000, "orders": 1}
    assert days[1] == {"date": "2026-03-02", "revenue_cents": 0, "orders": 0}
    assert days[-1] == {"date": "2026-03-31", "revenue_cents": 1_000, "orders": 1}


def test_an_empty_window_answers_zeros(shop: Shop, mixed: dict[str, Any]) -> None:
    window = {"from": "2020-01-01", "to": "2020-01-02"}
    assert _get(shop, f"{REPORTS}/profit", **window) == {
        "revenue_cents": 0,
        "cost_cents": 0,
        "profit_cents": 0,
        "orders": 0,
    }
    assert _get(shop, f"{REPORTS}/product-sales", **window) == {"items": []}
    assert _get(shop, f"{REPORTS}/category-sales", **window) == {"items": []}
    dashboard = _get(shop, "/api/admin/dashboard", **window)
    assert dashboard["revenue_cents"] == dashboard["average_order_value_cents"] == dashboard["customers"] == 0
    assert set(dashboard["orders_by_status"].values()) == {0}
    assert dashboard["top_products"] == []
    assert dashboard["revenue_by_day"] == [
        {"date": "2020-01-01", "revenue_cents": 0, "orders": 0},
        {"date": "2020-01-02", "revenue_cents": 0, "orders": 0},
    ]


def test_a_shop_without_orders_answers_zeros(shop: Shop) -> None:
    assert _get(shop, f"{REPORTS}/profit")["revenue_cents"] == 0
    dashboard = _get(shop, "/api/admin/dashboard")
    assert (dashboard["average_order_value_cents"], dashboard["revenue_by_day"]) == (0, [])


def test_the_calendars_last_day_is_a_valid_end(shop: Shop, mixed: dict[str, Any]) -> None:
    window = {"from": "0001-01-01", "to": "9999-12-31"}
    assert _get(shop, f"{REPORTS}/profit", **window)["orders"] == 3


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"from": "2026-13-01"}, id="no-such-month"),
        pytest.param({"to": "2026-02-30"}, id="no-such-day"),
        pytest.param({"from": "yesterday"}, id="word"),
        pytest.param({"from": "2026-3-1"}, id="not-padded"),
        pytest.param({"to": "1700000000"}, id="unix-seconds"),
        pytest.param({"from": "2026-03-01T00:00:00Z"}, id="a-timestamp"),
        pytest.param({"from": "2026-03-02", "to": "2026-03-01"}, id="from-after-to"),
        pytest.param({"since": "2026-03-01"}, id="unknown-parameter"),
    ],
)
def test_bad_windows_are_refused(shop: Shop, path: str, params: dict[str, str]) -> None:
    assert_problem(shop.client.get(path, query_string=params, headers=shop.headers), 422)


# --- roles -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ENDPOINTS)
def test_reports_are_for_admins_only(client: FlaskClient, path: str) -> None:
    assert_problem(client.get(path), 401)
    assert_problem(client.get(path, headers=customer(client).headers), 403)


class _RefundTimesOut(TestGateway):
    def refund(self, **kwargs: Any) -> RefundResult:
        raise PaymentProviderError("Timed out waiting for the payment provider.")


def test_a_refund_counts_while_the_provider_is_asked_but_not_in_the_export(
    app: Flask, shop: Shop, catalog: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    order = _paid(buyer, sessions, [(catalog["a"], 3)])  # goods 3000
    app.extensions["shopwright.gateway"] = _RefundTimesOut(
        app.extensions["shopwright.settings"].PAYMENT_WEBHOOK_SECRET
    )
    refund = {"amount_cents": 400}
    url = f"/api/admin/orders/{order['id']}/refund"
    assert shop.client.post(url, json=refund, headers=shop.headers).status_code == 202  # pending, reserved

    assert _get(shop, f"{REPORTS}/profit")["revenue_cents"] == 2_600
    export = shop.client.get("/api/admin/orders/export", headers=shop.headers).get_data(as_text=True)
    header, row = export.splitlines()[:2]
    assert dict(zip(header.split(","), row.split(","), strict=True))["refunded_cents"] == "0"
