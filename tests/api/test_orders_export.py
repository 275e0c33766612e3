"""GET /api/admin/orders/export: the window's paid orders and their lines as CSV, safe to open in a
spreadsheet (docs/backoffice.md)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

EXPORT = "/api/admin/orders/export"


def _paid_at(sessions: sessionmaker[Session], order_id: int, when: str) -> None:
    with sessions() as session, session.begin():
        session.execute(
            update(Order).where(Order.id == order_id).values(paid_at=datetime.fromisoformat(when))
        )


def _rows(shop: Shop, **params: str) -> list[dict[str, str]]:
    response = shop.client.get(EXPORT, query_string=params, headers=shop.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def products(shop: Shop) -> dict[str, Any]:
    category = shop.category("Office")
    return {
        "pen": shop.product(category["id"], "Pen", price_cents=250, cost_cents=100, sku="PEN-1"),
        "formula": shop.product(
            category["id"], '=HYPERLINK("http://x.example")', price_cents=1_000, sku="FX-1", cost_cents=5
        ),
    }


def test_the_export_lists_each_line_of_the_orders_paid_in_the_window(
    shop: Shop, products: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    buyer.added(2, product_id=products["pen"]["id"])
    buyer.added(1, product_id=products["formula"]["id"])
    in_window = buyer.ordered()
    assert buyer.pay(in_window["id"]).status_code == 200
    _paid_at(sessions, in_window["id"], "2026-05-31T23:59:59+00:00")
    outside = buyer.buy(products["pen"]["id"])
    assert buyer.pay(outside["id"]).status_code == 200
    _paid_at(sessions, outside["id"], "2026-06-01T00:00:00+00:00")
    buyer.buy(products["pen"]["id"])  # pending: never paid, not an accounting event

    rows = _rows(shop, **{"from": "2026-05-01", "to": "2026-05-31"})

    assert [(r["order_id"], r["sku"], r["quantity"], r["line_total_cents"]) for r in rows] == [
        (str(in_window["id"]), "PEN-1", "2", "500"),
        (str(in_window["id"]), "FX-1", "1", "1000"),
    ]
    first = rows[0]
    assert first["status"] == "paid"
    assert first["paid_at"] == "2026-05-31T23:59:59Z"
    assert first["customer_id"] == str(buyer.account.id)
    assert (first["subtotal_cents"], first["total_cents"], first["refunded_cents"]) == ("1500", "2000", "0")
    assert first["unit_cost_cents"] == "100"
    # Spreadsheet formulas are defused: a leading apostrophe keeps them text.
    assert rows[1]["name"] == '\'=HYPERLINK("http://x.example")'
    assert len(_rows(shop)) == 3


def test_refunded_and_cancelled_orders_show_what_came_back(
    shop: Shop, products: dict[str, Any], buyer: Buyer
) -> None:
    order = buyer.buy(products["pen"]["id"], 4)
    assert buyer.pay(order["id"]).status_code == 200
    refund = {"amount_cents": 300}
    assert (
        shop.client.post(
            f"/api/admin/orders/{order['id']}/refund", json=refund, headers=shop.headers
        ).status_code
        == 200
    )
    cancelled = buyer.buy(products["pen"]["id"])
    assert buyer.pay(cancelled["id"]).status_code == 200
    assert (
        buyer.client.post(f"/api/orders/{cancelled['id']}/cancel", headers=buyer.account.headers).status_code
        == 200
    )

    rows = {r["order_id"]: r for r in _rows(shop)}

    assert (rows[str(order["id"])]["status"], rows[str(order["id"])]["refunded_cents"]) == ("paid", "300")
    assert rows[str(cancelled["id"])]["status"] == "cancelled"
    assert rows[str(cancelled["id"])]["refunded_cents"] == str(cancelled["total_cents"])


def test_an_empty_window_is_the_header_alone(shop: Shop) -> None:
    response = shop.client.get(EXPORT, headers=shop.headers)
    assert response.get_data(as_text=True).splitlines()[0].startswith("order_id,status,created_at,paid_at")
    assert _rows(shop) == []


def test_the_export_is_for_admins_only(client: FlaskClient) -> None:
    assert_problem(client.get(EXPORT), 401)
    assert_problem(client.get(EXPORT, headers=customer(client).headers), 403)
