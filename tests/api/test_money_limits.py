"""Money never overflows the BIGINT columns: refunds are compared without summing in SQL, and an order's
total is capped (orders.pricing.MAX_ORDER_CENTS); a number that cannot fit is refused, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.schemas import MAX_CENTS
from shopwright.orders.models import Order
from shopwright.orders.pricing import MAX_ORDER_CENTS
from shopwright.payments.models import Refund
from tests.factories import assert_problem
from tests.factories.cart import total_reserved
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer, order_count

ADMIN_ORDERS = "/api/admin/orders"
BIGINT_MAX = 2**63 - 1


def _refunds(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Refund)) or 0)


@pytest.fixture
def paid(shop: Shop, buyer: Buyer) -> dict[str, Any]:
    product = shop.product(shop.category()["id"], price_cents=4_000, stock_quantity=5)
    order = buyer.buy(product["id"])
    assert buyer.pay(order["id"]).status_code == 200
    return buyer.order(order["id"])


@pytest.mark.parametrize("amount", [BIGINT_MAX - 50, BIGINT_MAX, BIGINT_MAX - 999])
def test_a_refund_near_two_to_the_63_after_a_partial_refund_is_409(
    shop: Shop, buyer: Buyer, paid: dict[str, Any], sessions: sessionmaker[Session], amount: int
) -> None:
    url = f"{ADMIN_ORDERS}/{paid['id']}/refund"
    assert shop.client.post(url, json={"amount_cents": 1_000}, headers=shop.headers).status_code == 200

    response = shop.client.post(url, json={"amount_cents": amount}, headers=shop.headers)

    problem = assert_problem(response, 409, "refund_exceeds_payment")
    assert problem["refundable_cents"] == paid["total_cents"] - 1_000
    assert buyer.order(paid["id"])["payments"][0]["refunded_cents"] == 1_000
    assert _refunds(sessions) == 1


def test_a_huge_first_refund_is_409_too(
    shop: Shop, buyer: Buyer, paid: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    url = f"{ADMIN_ORDERS}/{paid['id']}/refund"
    assert_problem(
        shop.client.post(url, json={"amount_cents": BIGINT_MAX}, headers=shop.headers),
        409,
        "refund_exceeds_payment",
    )
    assert _refunds(sessions) == 0
    rest = shop.client.post(url, json={}, headers=shop.headers)
    assert rest.status_code == 200
    assert rest.json["payments"][0]["refunded_cents"] == paid["total_cents"]


def test_an_order_over_the_total_cap_is_refused_and_changes_nothing(
    shop: Shop, buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    # Eleven lines of 100 units at the highest price an admin can set: 1.1e15 cents, over the cap.
    category = shop.category()["id"]
    lines = MAX_ORDER_CENTS // (100 * MAX_CENTS) + 1
    for _ in range(lines):
        product = shop.product(category, price_cents=MAX_CENTS, stock_quantity=100)
        buyer.added(100, product_id=product["id"])
    reserved = total_reserved(sessions)

    response = buyer.checkout()

    assert_problem(response, 422, "order_total_too_large")
    assert order_count(sessions) == 0
    assert total_reserved(sessions) == reserved == lines * 100
    assert len(buyer.get()["items"]) == lines


def test_an_order_at_the_cap_goes_through(shop: Shop, buyer: Buyer, sessions: sessionmaker[Session]) -> None:
    category = shop.category()["id"]
    for _ in range(MAX_ORDER_CENTS // (100 * MAX_CENTS)):
        product = shop.product(category, price_cents=MAX_CENTS, stock_quantity=100)
        buyer.added(100, product_id=product["id"])

    order = buyer.ordered()

    assert order["total_cents"] == MAX_ORDER_CENTS
    with sessions() as session:
        assert session.scalar(select(Order.total_cents)) == MAX_ORDER_CENTS
