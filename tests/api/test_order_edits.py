"""Edits of pending orders (PATCH /api/orders/<id>) price what they add at today's price.

The rule (docs/orders.md): a line keeps its quantity and snapshot price; units added to a line whose price
is no longer the variant's go into the variant's line at the current price and cost (merged into one that
exists, else a new line). Raising a line that is at the current price just grows it. A product or variant
no longer for sale can only be lowered or removed (409 product_unavailable). Totals, the voucher's
discount, tax and shipping follow; stock is sold or put back in the same transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import OrderItem
from tests.factories import assert_problem
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import ORDERS, Buyer


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def _patch(buyer: Buyer, order_id: int, *changes: tuple[int, int]) -> Any:
    body = {"items": [{"item_id": item_id, "quantity": quantity} for item_id, quantity in changes]}
    return buyer.client.patch(f"{ORDERS}/{order_id}", json=body, headers=buyer.account.headers)


def _edited(buyer: Buyer, order_id: int, *changes: tuple[int, int]) -> dict[str, Any]:
    response = _patch(buyer, order_id, *changes)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json
    return body


def _lines(order: dict[str, Any]) -> list[tuple[int, int]]:
    """(unit price, quantity) of each line, in line order."""
    return [(item["unit_price_cents"], item["quantity"]) for item in order["items"]]


def _costs(sessions: sessionmaker[Session], order_id: int) -> list[tuple[int, int]]:
    with sessions() as session:
        rows = session.execute(
            select(OrderItem.unit_price_cents, OrderItem.unit_cost_cents)
            .where(OrderItem.order_id == order_id)
            .order_by(OrderItem.id)
        )
        return [(price, cost) for price, cost in rows]


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(shop.category()["id"], price_cents=1_000, cost_cents=400, stock_quantity=200)


def test_units_added_after_a_price_rise_are_charged_at_the_new_price(
    shop: Shop, buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # The attack of the issue: check out 1 at 10.00, the price becomes 1000.00, top up to 50.
    order = buyer.buy(product["id"], 1)
    shop.update(product["id"], price_cents=100_000, cost_cents=60_000)

    edited = _edited(buyer, order["id"], (order["items"][0]["id"], 50))

    assert _lines(edited) == [(1_000, 1), (100_000, 49)]
    assert edited["items"][0]["id"] == order["items"][0]["id"]  # the old line keeps its snapshot
    assert edited["subtotal_cents"] == 1_000 + 49 * 100_000
    assert edited["total_cents"] == edited["subtotal_cents"]  # free shipping from 100.00
    assert [item["line_total_cents"] for item in edited["items"]] == [1_000, 4_900_000]
    assert _costs(sessions, order["id"]) == [(1_000, 400), (100_000, 60_000)]
    assert stock_of(sessions, _variant(product)) == (150, 0)
    payment = buyer.pay(order["id"])
    assert payment.status_code == 200
    assert payment.json["amount_cents"] == edited["total_cents"]


def test_a_deleted_product_can_no_longer_be_topped_up(
    shop: Shop, buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    order = buyer.buy(product["id"], 3)
    line = order["items"][0]["id"]
    shop.delete(product["id"])

    problem = assert_problem(_patch(buyer, order["id"], (line, 100)), 409, "product_unavailable")

    assert "no longer" in problem["detail"]
    assert buyer.order(order["id"])["items"][0]["quantity"] == 3
    assert buyer.order(order["id"])["subtotal_cents"] == 3_000
    assert stock_of(sessions, _variant(product)) == (197, 0)
    # Lowering and removing stay possible.
    lowered = _edited(buyer, order["id"], (line, 1))
    assert (_lines(lowered), lowered["subtotal_cents"]) == ([(1_000, 1)], 1_000)
    assert stock_of(sessions, _variant(product)) == (199, 0)


@pytest.mark.parametrize("withdrawal", ["hidden product", "inactive variant"])
def test_a_withdrawn_product_or_variant_cannot_be_raised_even_at_its_old_price(
    shop: Shop, buyer: Buyer, sessions: sessionmaker[Session], withdrawal: str
) -> None:
    product = shop.product_with_variants(
        shop.category()["id"],
        [
            {"price_cents": 700, "stock_quantity": 9, "is_default": True},
            {"price_cents": 900, "stock_quantity": 9},
        ],
    )
    other_variant = product["variants"][1]["id"]
    buyer.added(2, variant_id=other_variant)
    order = buyer.ordered()
    if withdrawal == "hidden product":
        shop.hide(product["id"])
    else:
        response = shop.client.patch(
            f"/api/products/{product['id']}/variants/{other_variant}",
            json={"is_active": False},
            headers=shop.headers,
        )
        assert response.status_code == 200, response.json

    assert_problem(_patch(buyer, order["id"], (order["items"][0]["id"], 3)), 409, "product_unavailable")
    assert stock_of(sessions, other_variant) == (7, 0)
    assert _lines(_edited(buyer, order["id"], (order["items"][0]["id"], 1))) == [(900, 1)]


def test_raising_a_line_at_the_current_price_just_grows_it(
    buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    order = buyer.buy(product["id"], 2)

    edited = _edited(buyer, order["id"], (order["items"][0]["id"], 7))

    assert _lines(edited) == [(1_000, 7)]
    assert stock_of(sessions, _variant(product)) == (193, 0)


def test_added_units_merge_into_the_line_at_the_current_price(
    shop: Shop, buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    order = buyer.buy(product["id"], 1)
    old = order["items"][0]["id"]
    shop.update(product["id"], price_cents=2_000)
    split = _edited(buyer, order["id"], (old, 3))
    assert _lines(split) == [(1_000, 1), (2_000, 2)]
    current = split["items"][1]["id"]

    merged = _edited(buyer, order["id"], (old, 2))  # one more unit, at 20.00, into the same line
    both = _edited(buyer, order["id"], (old, 2), (current, 5))  # +1 through the old line, +2 directly

    assert _lines(merged) == [(1_000, 1), (2_000, 3)]
    assert [item["id"] for item in merged["items"]] == [old, current]
    assert _lines(both) == [(1_000, 1), (2_000, 6)]
    assert both["subtotal_cents"] == 1_000 + 12_000
    assert stock_of(sessions, _variant(product)) == (193, 0)


def test_a_price_drop_prices_added_units_lower(shop: Shop, buyer: Buyer, product: dict[str, Any]) -> None:
    order = buyer.buy(product["id"], 2)
    shop.update(product["id"], price_cents=600)

    edited = _edited(buyer, order["id"], (order["items"][0]["id"], 5))

    assert _lines(edited) == [(1_000, 2), (600, 3)]
    assert edited["subtotal_cents"] == 3_800


def test_removing_the_current_price_line_while_topping_up_the_old_one_keeps_the_units(
    shop: Shop, buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    order = buyer.buy(product["id"], 1)
    old = order["items"][0]["id"]
    shop.update(product["id"], price_cents=2_000)
    current = _edited(buyer, order["id"], (old, 3))["items"][1]["id"]

    edited = _edited(buyer, order["id"], (old, 2), (current, 0))  # 2 at 20.00 go, 1 at 20.00 comes

    assert _lines(edited) == [(1_000, 1), (2_000, 1)]
    assert stock_of(sessions, _variant(product)) == (198, 0)


def test_the_voucher_tax_and_shipping_follow_a_split(make_app: Any, sessions: sessionmaker[Session]) -> None:
    app = make_app(TAX_RATES_PERCENT={"*": "10"}, FREE_SHIPPING_THRESHOLD_CENTS=None)
    shop = Shop(app, app.test_client())
    from tests.factories import customer

    buyer = Buyer(shop.client, customer(shop.client))
    product = shop.product(shop.category()["id"], price_cents=1_000, stock_quantity=20)
    voucher = {"code": "TENPC", "kind": "percent", "percent_off": 10}
    assert shop.client.post("/api/admin/vouchers", json=voucher, headers=shop.headers).status_code == 201
    buyer.added(2, product_id=product["id"])
    order = buyer.ordered(voucher_code="TENPC")
    shop.update(product["id"], price_cents=3_000)

    edited = _edited(buyer, order["id"], (order["items"][0]["id"], 4))

    # 2 x 10.00 + 2 x 30.00 = 80.00; 10 % off = 8.00; tax 10 % of 72.00 = 7.20; shipping 5.00.
    assert _lines(edited) == [(1_000, 2), (3_000, 2)]
    assert (
        edited["subtotal_cents"],
        edited["discount_cents"],
        edited["tax_cents"],
        edited["shipping_cents"],
        edited["total_cents"],
    ) == (8_000, 800, 720, 500, 8_420)


def test_a_split_beyond_stock_changes_nothing(
    shop: Shop, buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(shop.category()["id"], price_cents=1_000, stock_quantity=5)
    order = buyer.buy(product["id"], 2)
    shop.update(product["id"], price_cents=1_500)

    assert_problem(_patch(buyer, order["id"], (order["items"][0]["id"], 6)), 409, "out_of_stock")

    assert _lines(buyer.order(order["id"])) == [(1_000, 2)]
    assert stock_of(sessions, _variant(product)) == (3, 0)


def test_a_merge_past_the_line_limit_is_refused(
    shop: Shop, buyer: Buyer, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    order = buyer.buy(product["id"], 50)
    old = order["items"][0]["id"]
    shop.update(product["id"], price_cents=1_100)
    current = _edited(buyer, order["id"], (old, 100))["items"][1]["id"]  # 50 at 10.00, 50 at 11.00

    response = _patch(buyer, order["id"], (old, 60), (current, 95))  # 95 + 10 at 11.00 = 105

    assert_problem(response, 422, "line_quantity_exceeded")
    assert _lines(buyer.order(order["id"])) == [(1_000, 50), (1_100, 50)]
    assert stock_of(sessions, _variant(product)) == (100, 0)
