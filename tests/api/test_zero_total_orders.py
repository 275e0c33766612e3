"""An order whose total is 0 (a free product, or a 100 % voucher with free shipping) is paid at checkout:
status `paid`, `paid_at` set, no payment attempt, exactly one `order.paid` event. Paying it again is a
clean 409; an edit that brings a pending order's total to 0 pays it the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order
from shopwright.outbox import Event
from shopwright.payments.models import Payment
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import ORDERS, Buyer


def _events(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(Event.name).where(Event.name.like("order.%")).order_by(Event.id)))


def _payments(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Payment)) or 0)


def _shop_and_buyer(app: Flask) -> tuple[Shop, Buyer]:
    client = app.test_client()
    return Shop(app, client), Buyer(client, customer(client))


def _voucher(shop: Shop, **fields: Any) -> None:
    response = shop.client.post("/api/admin/vouchers", json=fields, headers=shop.headers)
    assert response.status_code == 201, response.json


def _assert_paid_at_checkout(order: dict[str, Any], sessions: sessionmaker[Session]) -> None:
    assert order["total_cents"] == 0
    assert order["status"] == "paid"
    assert order["paid_at"] is not None
    assert order["payments"] == []
    assert _payments(sessions) == 0
    assert _events(sessions) == ["order.created", "order.paid"]


def test_a_free_product_is_paid_at_checkout(app: Flask, sessions: sessionmaker[Session]) -> None:
    shop, buyer = _shop_and_buyer(app)
    sample = shop.product(shop.category()["id"], price_cents=0, stock_quantity=3)

    order = buyer.buy(sample["id"], 2)

    _assert_paid_at_checkout(order, sessions)
    assert buyer.order(order["id"])["status"] == "paid"
    assert stock_of(sessions, sample["variants"][0]["id"]) == (1, 0)


@pytest.mark.parametrize(
    "voucher",
    [
        {"code": "ALLFREE", "kind": "percent", "percent_off": 100},
        {"code": "ALLFREE", "kind": "fixed", "amount_off_cents": 9_999, "currency": "USD"},
    ],
)
def test_a_full_voucher_with_free_shipping_is_paid_at_checkout(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], voucher: dict[str, Any]
) -> None:
    shop, buyer = _shop_and_buyer(make_app(FREE_SHIPPING_THRESHOLD_CENTS=0))
    _voucher(shop, **voucher)
    product = shop.product(shop.category()["id"], price_cents=2_500, stock_quantity=5)
    buyer.added(2, product_id=product["id"])

    order = buyer.ordered(voucher_code="ALLFREE")

    assert (order["subtotal_cents"], order["discount_cents"], order["shipping_cents"]) == (5_000, 5_000, 0)
    _assert_paid_at_checkout(order, sessions)


def test_a_full_voucher_that_leaves_shipping_to_pay_stays_pending(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    shop, buyer = _shop_and_buyer(app)
    _voucher(shop, code="ALLFREE", kind="percent", percent_off=100)
    product = shop.product(shop.category()["id"], price_cents=2_500, stock_quantity=5)
    buyer.added(1, product_id=product["id"])

    order = buyer.ordered(voucher_code="ALLFREE")

    assert (order["status"], order["total_cents"], order["shipping_cents"]) == ("pending", 500, 500)
    payment = buyer.pay(order["id"])
    assert payment.status_code == 200
    assert payment.json["amount_cents"] == 500


def test_paying_an_order_paid_at_checkout_is_a_clean_409(app: Flask, sessions: sessionmaker[Session]) -> None:
    shop, buyer = _shop_and_buyer(app)
    sample = shop.product(shop.category()["id"], price_cents=0, stock_quantity=3)
    order = buyer.buy(sample["id"])

    problem = assert_problem(buyer.pay(order["id"]), 409, "invalid_transition")

    assert "paid" in problem["detail"]
    assert _payments(sessions) == 0
    assert _events(sessions) == ["order.created", "order.paid"]


def test_an_order_paid_at_checkout_can_be_cancelled_without_a_refund(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    shop, buyer = _shop_and_buyer(app)
    sample = shop.product(shop.category()["id"], price_cents=0, stock_quantity=3)
    order = buyer.buy(sample["id"], 3)

    response = buyer.client.post(f"{ORDERS}/{order['id']}/cancel", headers=buyer.account.headers)

    assert response.status_code == 200, response.json
    assert response.json["status"] == "cancelled"
    assert stock_of(sessions, sample["variants"][0]["id"]) == (3, 0)
    assert _payments(sessions) == 0


def test_an_edit_that_brings_the_total_to_zero_pays_the_order(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    shop, buyer = _shop_and_buyer(app)
    category = shop.category()["id"]
    sample = shop.product(category, price_cents=0, stock_quantity=3)
    paid_for = shop.product(category, price_cents=1_200, stock_quantity=3)
    buyer.added(1, product_id=sample["id"])
    buyer.added(1, product_id=paid_for["id"])
    order = buyer.ordered()
    assert (order["status"], order["total_cents"]) == ("pending", 1_700)
    paid_line = next(item["id"] for item in order["items"] if item["unit_price_cents"] == 1_200)

    response = buyer.client.patch(
        f"{ORDERS}/{order['id']}",
        json={"items": [{"item_id": paid_line, "quantity": 0}]},
        headers=buyer.account.headers,
    )

    assert response.status_code == 200, response.json
    assert (response.json["status"], response.json["total_cents"]) == ("paid", 0)
    assert response.json["paid_at"] is not None
    assert _events(sessions) == ["order.created", "order.paid"]
    assert _payments(sessions) == 0
    assert stock_of(sessions, paid_for["variants"][0]["id"]) == (3, 0)


def test_a_pending_order_of_zero_from_before_is_refused_not_charged(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    # Orders placed before this rule could be pending at 0: the payments table refuses a charge of 0.
    shop, buyer = _shop_and_buyer(app)
    product = shop.product(shop.category()["id"], price_cents=800, stock_quantity=3)
    order = buyer.buy(product["id"])
    with sessions() as session, session.begin():
        session.execute(
            update(Order)
            .where(Order.id == order["id"])
            .values(subtotal_cents=0, discount_cents=0, shipping_cents=0, tax_cents=0, total_cents=0)
        )

    assert_problem(buyer.pay(order["id"]), 409, "nothing_to_pay")
    assert _payments(sessions) == 0
    assert buyer.order(order["id"])["status"] == "pending"
