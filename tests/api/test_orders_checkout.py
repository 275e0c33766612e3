"""Checkout (POST /api/orders): snapshots, totals, stock, addresses, refused carts, idempotency."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders import checkout
from tests.factories import assert_problem, customer, error_fields
from tests.factories.cart import lapse_carts, total_reserved
from tests.factories.catalog import Shop, empty_catalog, stock_of
from tests.factories.orders import ADDRESS, ORDERS, Buyer, order_count
from tests.support.statements import StatementLog


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Laptops")


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def test_checkout_turns_the_cart_into_a_pending_order(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    laptop = shop.product(
        category["id"], "Laptop 13", price_cents=2_500, cost_cents=1_800, stock_quantity=5, sku="LAP-13"
    )
    mouse = shop.product(category["id"], "Mouse", price_cents=1_000, stock_quantity=9, sku="MOU-1")
    buyer.added(2, product_id=laptop["id"])
    buyer.added(1, product_id=mouse["id"])

    order = buyer.ordered()

    assert order["status"] == "pending"
    assert order["user_id"] == buyer.account.id
    assert [
        (i["sku"], i["name"], i["quantity"], i["unit_price_cents"], i["line_total_cents"])
        for i in order["items"]
    ] == [
        ("LAP-13", "Laptop 13", 2, 2_500, 5_000),
        ("MOU-1", "Mouse", 1, 1_000, 1_000),
    ]
    assert (
        order["subtotal_cents"],
        order["discount_cents"],
        order["shipping_cents"],
        order["tax_cents"],
    ) == (
        6_000,
        0,
        500,
        0,
    )
    assert order["total_cents"] == 6_500
    assert order["currency"] == "USD"
    assert order["shipping_address"] == ADDRESS
    assert order["payments"] == []
    assert stock_of(sessions, _variant(laptop)) == (3, 0)
    assert stock_of(sessions, _variant(mouse)) == (8, 0)
    cart = buyer.get()
    assert cart["items"] == []
    assert buyer.order(order["id"]) == order


def test_a_long_cart_is_inserted_in_batches(
    shop: Shop,
    category: dict[str, Any],
    buyer: Buyer,
    monkeypatch: pytest.MonkeyPatch,
    committed_db: Engine,
) -> None:
    # ITEM_BATCH lines per INSERT keeps a very long cart under PostgreSQL's 65,535 parameters; 2 here.
    monkeypatch.setattr(checkout, "ITEM_BATCH", 2)
    products = [shop.product(category["id"], f"Cable {n}", price_cents=100 + n) for n in range(5)]
    for product in products:
        buyer.added(1, product_id=product["id"])

    log = StatementLog([committed_db])
    orders: list[dict[str, Any]] = []
    log.count(lambda: orders.append(buyer.ordered()))

    order = orders[0]
    assert sum(s.startswith("INSERT INTO order_items") for s in log.statements) == 3  # 2 + 2 + 1 lines
    assert [item["product_id"] for item in order["items"]] == [p["id"] for p in products]
    assert len({item["id"] for item in order["items"]}) == 5
    assert order["subtotal_cents"] == sum(100 + n for n in range(5))
    assert buyer.order(order["id"]) == order


def test_saved_items_stay_for_the_next_cart(shop: Shop, category: dict[str, Any], buyer: Buyer) -> None:
    bought, saved = shop.product(category["id"]), shop.product(category["id"])
    buyer.added(1, product_id=bought["id"])
    item_id = buyer.added(1, product_id=saved["id"])["items"][1]["id"]
    buyer.call("POST", f"/items/{item_id}/save-for-later")
    buyer.ordered()
    assert [line["product_id"] for line in buyer.get()["saved_items"]] == [saved["id"]]


def test_the_price_snapshot_survives_a_later_price_change(
    shop: Shop, category: dict[str, Any], buyer: Buyer
) -> None:
    product = shop.product(category["id"], price_cents=1_000)
    order = buyer.buy(product["id"], 3)
    shop.update(product["id"], price_cents=9_999, name="Renamed")
    again = buyer.order(order["id"])
    assert (again["items"][0]["unit_price_cents"], again["items"][0]["name"], again["subtotal_cents"]) == (
        1_000,
        order["items"][0]["name"],
        3_000,
    )


def test_shipping_is_free_above_the_threshold(shop: Shop, category: dict[str, Any], buyer: Buyer) -> None:
    product = shop.product(category["id"], price_cents=10_000)
    order = buyer.buy(product["id"])
    assert (order["shipping_cents"], order["total_cents"]) == (0, 10_000)


def test_a_structured_address_is_validated_and_priced_by_country(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    app = make_app(
        SHIPPING_RATES_CENTS={"*": 900, "DE": 400},
        TAX_RATES_PERCENT={"*": Decimal(0), "DE": Decimal(19)},
        FREE_SHIPPING_THRESHOLD_CENTS=None,
    )
    client = app.test_client()
    shop = Shop(app, client)
    try:
        product = shop.product(shop.category()["id"], price_cents=1_050)
        buyer = Buyer(client, customer(client))
        buyer.added(1, product_id=product["id"])
        address = {"line1": "Hauptstr. 1", "city": "Berlin", "postal_code": "10115", "country": "de"}

        order = buyer.ordered(address)

        assert order["shipping_address"] == {**address, "country": "DE"}
        # 19 % of 10.50 is 1.995, rounded half up to 2.00
        assert (
            order["subtotal_cents"],
            order["shipping_cents"],
            order["tax_cents"],
            order["total_cents"],
        ) == (
            1_050,
            400,
            200,
            1_650,
        )
    finally:
        empty_catalog(sessions)


@pytest.mark.parametrize(
    "address",
    [
        {"line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "ZZ"},
        {"line1": "1 Rue", "city": "Paris", "postal_code": "75001"},
        {"line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "FR", "planet": "Earth"},
        "",
        None,
        42,
    ],
)
def test_bad_addresses_are_refused_and_change_nothing(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session], address: Any
) -> None:
    product = shop.product(category["id"])
    buyer.added(2, product_id=product["id"])
    assert_problem(buyer.checkout(address), 422, "validation_error")
    assert order_count(sessions) == 0
    assert stock_of(sessions, _variant(product)) == (10, 2)


def test_a_shop_shipping_to_some_countries_refuses_others(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    app = make_app(SHIPPING_COUNTRIES=["US", "CA"])
    client = app.test_client()
    shop = Shop(app, client)
    try:
        product = shop.product(shop.category()["id"])
        buyer = Buyer(client, customer(client))
        buyer.added(1, product_id=product["id"])
        french = {"line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "FR"}

        body = assert_problem(buyer.checkout(french), 422, "unsupported_shipping_country")
        assert error_fields(body) == {"delivery_address.country"}
        assert_problem(buyer.checkout("somewhere"), 422, "unsupported_shipping_country")
        assert order_count(sessions) == 0

        american = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
        assert buyer.checkout(american).status_code == 201
    finally:
        empty_catalog(sessions)


def test_an_empty_cart_cannot_be_checked_out(buyer: Buyer, sessions: sessionmaker[Session]) -> None:
    assert_problem(buyer.checkout(), 422, "cart_empty")
    buyer.get()  # an open but empty cart
    assert_problem(buyer.checkout(), 422, "cart_empty")
    assert order_count(sessions) == 0


def test_an_expired_cart_cannot_be_checked_out(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    buyer.added(2, product_id=product["id"])
    lapse_carts(sessions)
    assert_problem(buyer.checkout(), 422, "cart_expired")
    assert order_count(sessions) == 0
    assert stock_of(sessions, _variant(product))[0] == 10


def test_a_withdrawn_line_blocks_checkout(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    kept, withdrawn = shop.product(category["id"]), shop.product(category["id"], sku="GONE-1")
    buyer.added(1, product_id=kept["id"])
    buyer.added(1, product_id=withdrawn["id"])
    shop.delete(withdrawn["id"])

    body = assert_problem(buyer.checkout(), 422, "cart_item_unavailable")

    assert body["skus"] == ["GONE-1"]
    assert order_count(sessions) == 0
    assert total_reserved(sessions) == 2


@pytest.mark.parametrize(
    "body", [{}, {"delivery_address": ADDRESS, "coupon": "X"}, {"delivery_address": "x" * 501}]
)
def test_bad_checkout_bodies_are_refused(buyer: Buyer, body: dict[str, Any]) -> None:
    response = buyer.client.post(ORDERS, json=body, headers=buyer.account.headers)
    assert_problem(response, 422, "validation_error")


def test_checkout_needs_a_login(client: FlaskClient) -> None:
    assert_problem(client.post(ORDERS, json={"delivery_address": ADDRESS}), 401)


# --- idempotency ---
def test_a_retried_checkout_with_the_same_key_replays_the_first_order(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    buyer.added(2, product_id=product["id"])

    first = buyer.checkout(key="order-1")
    second = buyer.checkout(key="order-1")

    assert first.status_code == second.status_code == 201
    assert second.json == first.json
    assert order_count(sessions) == 1
    assert stock_of(sessions, _variant(product)) == (8, 0)


def test_the_same_key_with_another_body_is_refused(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    buyer.added(1, product_id=product["id"])
    assert buyer.checkout(key="order-2").status_code == 201
    assert_problem(buyer.checkout("another address", key="order-2"), 422, "idempotency_key_reused")
    assert order_count(sessions) == 1


def test_keys_belong_to_one_customer(
    shop: Shop, category: dict[str, Any], buyer: Buyer, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    other = Buyer(client, customer(client))
    buyer.added(1, product_id=product["id"])
    other.added(1, product_id=product["id"])
    assert buyer.checkout(key="same").status_code == 201
    assert other.checkout(key="same").status_code == 201
    assert order_count(sessions) == 2


def test_a_failed_checkout_does_not_burn_its_key(
    shop: Shop, category: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    assert_problem(buyer.checkout(key="retry-me"), 422, "cart_empty")
    buyer.added(1, product_id=shop.product(category["id"])["id"])
    assert buyer.checkout(key="retry-me").status_code == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "has space"])
def test_malformed_keys_are_refused(buyer: Buyer, key: str) -> None:
    response = buyer.client.post(
        ORDERS, json={"delivery_address": ADDRESS}, headers={**buyer.account.headers, "Idempotency-Key": key}
    )
    assert_problem(response, 422, "validation_error")
