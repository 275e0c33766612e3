"""Vouchers at checkout: the discount in the totals, refusals write nothing, cancelling gives the use back."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.promotions.models import Voucher
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import ORDERS, Buyer, order_count


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(shop.category()["id"], price_cents=2_000, stock_quantity=10)


def _voucher(shop: Shop, **fields: Any) -> dict[str, Any]:
    response = shop.client.post("/api/admin/vouchers", json=fields, headers=shop.headers)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def _used(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalars(select(Voucher.used_count)).one())


def test_a_percent_voucher_discounts_the_goods_before_tax_and_shipping(
    shop: Shop, product: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    _voucher(shop, code="SPRING15", kind="percent", percent_off=15)
    buyer.added(3, product_id=product["id"])

    order = buyer.ordered(voucher_code="spring15")

    assert order["voucher_code"] == "SPRING15"
    assert (
        order["subtotal_cents"],
        order["discount_cents"],
        order["shipping_cents"],
        order["total_cents"],
    ) == (
        6_000,
        900,
        500,
        5_600,
    )
    assert _used(sessions) == 1


def test_a_fixed_voucher_with_a_minimum(shop: Shop, product: dict[str, Any], buyer: Buyer) -> None:
    _voucher(
        shop, code="TENOFF", kind="fixed", amount_off_cents=1_000, currency="USD", min_subtotal_cents=5_000
    )
    buyer.added(2, product_id=product["id"])
    body = assert_problem(buyer.checkout(voucher_code="TENOFF"), 422, "voucher_not_applicable")
    assert body["reason"] == "min_subtotal"
    buyer.added(1, product_id=product["id"])
    order = buyer.ordered(voucher_code="TENOFF")
    assert (order["discount_cents"], order["total_cents"]) == (1_000, 5_500)


@pytest.mark.parametrize(("code", "reason"), [("NOPE", "unknown_code"), ("OFF", "inactive")])
def test_a_refused_voucher_writes_nothing(
    shop: Shop, product: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session], code: str, reason: str
) -> None:
    _voucher(shop, code="OFF", kind="percent", percent_off=10, is_active=False)
    buyer.added(2, product_id=product["id"])
    assert (
        assert_problem(buyer.checkout(voucher_code=code), 422, "voucher_not_applicable")["reason"] == reason
    )
    assert order_count(sessions) == 0
    assert stock_of(sessions, product["variants"][0]["id"]) == (10, 2)
    assert len(buyer.get()["items"]) == 1


def test_cancelling_gives_the_voucher_use_back(
    shop: Shop, product: dict[str, Any], buyer: Buyer, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    _voucher(shop, code="ONCE", kind="percent", percent_off=50, usage_limit=1)
    order = buyer.buy(product["id"], voucher_code="ONCE")
    other = Buyer(client, customer(client))
    other.added(1, product_id=product["id"])
    assert (
        assert_problem(other.checkout(voucher_code="ONCE"), 409, "voucher_exhausted")["reason"]
        == "usage_limit"
    )

    assert (
        buyer.client.post(f"{ORDERS}/{order['id']}/cancel", headers=buyer.account.headers).status_code == 200
    )

    assert _used(sessions) == 0
    assert other.checkout(voucher_code="ONCE").status_code == 201


def test_editing_a_pending_order_recomputes_the_discount(
    shop: Shop, product: dict[str, Any], buyer: Buyer
) -> None:
    _voucher(shop, code="TEN", kind="percent", percent_off=10, min_subtotal_cents=4_000)
    order = buyer.buy(product["id"], 3, voucher_code="TEN")
    item_id = order["items"][0]["id"]

    changed = buyer.client.patch(
        f"{ORDERS}/{order['id']}",
        json={"items": [{"item_id": item_id, "quantity": 4}]},
        headers=buyer.account.headers,
    )
    assert changed.status_code == 200
    assert (changed.json["subtotal_cents"], changed.json["discount_cents"]) == (8_000, 800)

    too_small = buyer.client.patch(
        f"{ORDERS}/{order['id']}",
        json={"items": [{"item_id": item_id, "quantity": 1}]},
        headers=buyer.account.headers,
    )
    assert assert_problem(too_small, 422, "voucher_not_applicable")["reason"] == "min_subtotal"
    assert buyer.order(order["id"])["subtotal_cents"] == 8_000
