"""The cart's HTTP contract: lines, reservations, saved items, expiry on access, bad input, roles."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart.schemas import CartOut
from tests.factories import assert_problem, customer, error_fields
from tests.factories.cart import CART, Shopper, cart_lines, lapse_carts, total_reserved
from tests.factories.catalog import Shop, stock_of


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Laptops")


@pytest.fixture
def shopper(client: FlaskClient) -> Shopper:
    return Shopper(client, customer(client))


def _default_variant(product: dict[str, Any]) -> int:
    return int(next(v["id"] for v in product["variants"] if v["is_default"]))


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


# --- reading -------------------------------------------------------------------------------------
def test_a_new_customer_has_an_empty_cart_that_expires_in_the_ttl(shopper: Shopper) -> None:
    cart = shopper.get()
    assert cart["items"] == []
    assert cart["saved_items"] == []
    assert cart["subtotal_cents"] == 0
    assert cart["item_count"] == 0
    assert cart["currency"] == "USD"
    assert cart["expires_at"].endswith("Z")
    assert isinstance(cart["id"], int)
    assert shopper.get()["id"] == cart["id"], "one active cart per customer"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", ""),
        ("DELETE", ""),
        ("POST", "/items"),
        ("PUT", "/items/1"),
        ("PATCH", "/items/1"),
        ("DELETE", "/items/1"),
        ("POST", "/items/1/save-for-later"),
        ("POST", "/saved/1/move-to-cart"),
        ("DELETE", "/saved/1"),
    ],
)
def test_every_cart_route_needs_a_login(client: FlaskClient, method: str, path: str) -> None:
    assert_problem(client.open(f"{CART}{path}", method=method, json={"quantity": 1}), 401)


def test_paths_work_with_a_trailing_slash(shopper: Shopper) -> None:
    assert shopper.client.get(f"{CART}/", headers=shopper.account.headers).status_code == 200


# --- adding ----------------------------------------------------------------------------------------
def test_adding_a_product_reserves_its_default_variant(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], "Laptop 13", price_cents=129_900, stock_quantity=5, sku="LAP-13")
    variant_id = _default_variant(product)

    cart = shopper.added(2, product_id=product["id"])

    assert cart["items"] == [
        {
            "id": cart["items"][0]["id"],
            "product_id": product["id"],
            "variant_id": variant_id,
            "name": "Laptop 13",
            "variant_name": cart["items"][0]["variant_name"],
            "sku": "LAP-13",
            "quantity": 2,
            "unit_price_cents": 129_900,
            "line_total_cents": 259_800,
            "currency": "USD",
            "available": True,
        }
    ]
    assert cart["subtotal_cents"] == 259_800
    assert cart["item_count"] == 2
    assert stock_of(sessions, variant_id) == (5, 2)


def test_adding_a_specific_variant(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: Any
) -> None:
    product = shop.product_with_variants(
        category["id"],
        [
            {"name": "Small", "price_cents": 1000, "stock_quantity": 3, "is_default": True},
            {"name": "Large", "price_cents": 1500, "stock_quantity": 3},
        ],
    )
    large = next(v for v in product["variants"] if v["name"] == "Large")
    cart = shopper.added(3, variant_id=large["id"])
    assert [(line["variant_name"], line["line_total_cents"]) for line in cart["items"]] == [("Large", 4500)]
    assert stock_of(sessions, large["id"]) == (3, 3)


def test_adding_a_variant_again_grows_its_line(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=10)
    shopper.added(2, product_id=product["id"])
    cart = shopper.added(3, variant_id=_default_variant(product))
    assert [line["quantity"] for line in cart["items"]] == [5]
    assert stock_of(sessions, _default_variant(product)) == (10, 5)


def test_quantity_defaults_to_one(shop: Shop, category: dict[str, Any], shopper: Shopper) -> None:
    product = shop.product(category["id"])
    response = shopper.client.post(
        f"{CART}/items", json={"product_id": product["id"]}, headers=shopper.account.headers
    )
    assert response.status_code == 201
    assert response.json["items"][0]["quantity"] == 1


def test_adding_more_than_available_is_out_of_stock_and_reserves_nothing(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=5, sku="LAP-13")
    shopper.added(3, product_id=product["id"])

    body = assert_problem(shopper.add(3, product_id=product["id"]), 409, "out_of_stock")

    assert body["available"] == 2
    assert body["sku"] == "LAP-13"
    assert "Only 2 left of SKU LAP-13" in body["detail"]
    assert stock_of(sessions, _default_variant(product)) == (5, 3)
    assert [line["quantity"] for line in shopper.get()["items"]] == [3]


def test_a_product_without_stock_cannot_be_added(
    shop: Shop, category: dict[str, Any], shopper: Shopper
) -> None:
    product = shop.product(category["id"], stock_quantity=0)
    assert assert_problem(shopper.add(1, product_id=product["id"]), 409, "out_of_stock")["available"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 0},
        {"quantity": -1},
        {"quantity": 101},
        {"quantity": "2"},
        {"quantity": True},
        {"quantity": 1.5},
        {"quantity": None},
    ],
)
def test_bad_quantities_are_refused_and_change_nothing(
    shop: Shop,
    category: dict[str, Any],
    shopper: Shopper,
    sessions: sessionmaker[Session],
    body: dict[str, Any],
) -> None:
    product = shop.product(category["id"])
    response = shopper.call("POST", "/items", {"product_id": product["id"], **body})
    assert "quantity" in error_fields(assert_problem(response, 422, "validation_error"))
    assert total_reserved(sessions) == 0
    assert cart_lines(sessions) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"quantity": 1},
        {"product_id": 1, "variant_id": 1, "quantity": 1},
        {"product_id": "1", "quantity": 1},
        {"product_id": True, "quantity": 1},
        {"product_id": 0, "quantity": 1},
        {"product_id": 2**40, "quantity": 1},
        {"product_id": 1, "quantity": 1, "price_cents": 1},
    ],
)
def test_bad_targets_are_refused(
    shopper: Shopper, sessions: sessionmaker[Session], body: dict[str, Any]
) -> None:
    assert_problem(shopper.call("POST", "/items", body), 422, "validation_error")
    assert cart_lines(sessions) == 0


def test_malformed_json_is_a_400(shopper: Shopper) -> None:
    response = shopper.client.post(
        f"{CART}/items", data="{", content_type="application/json", headers=shopper.account.headers
    )
    assert_problem(response, 400)


def test_a_line_holds_at_most_100_units(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=500)
    shopper.added(60, product_id=product["id"])
    body = assert_problem(shopper.add(50, product_id=product["id"]), 422, "line_quantity_exceeded")
    assert error_fields(body) == {"quantity"}
    assert stock_of(sessions, _default_variant(product)) == (500, 60)


@pytest.mark.parametrize("how", ["deleted", "hidden", "unknown"])
def test_unavailable_products_cannot_be_added(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session], how: str
) -> None:
    product = shop.product(category["id"])
    if how == "deleted":
        shop.delete(product["id"])
    elif how == "hidden":
        shop.hide(product["id"])
    target = 999_999 if how == "unknown" else product["id"]
    assert_problem(shopper.add(1, product_id=target), 404, "product_unavailable")
    assert total_reserved(sessions) == 0
    assert cart_lines(sessions) == 0


def test_an_inactive_variant_cannot_be_added(shop: Shop, category: dict[str, Any], shopper: Shopper) -> None:
    product = shop.product(category["id"])
    extra = shop.add_variant(product["id"], stock_quantity=5)
    response = shop.client.patch(
        f"/api/products/{product['id']}/variants/{extra['id']}",
        json={"is_active": False},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.json
    assert_problem(shopper.add(1, variant_id=extra["id"]), 404, "product_unavailable")


def test_currencies_do_not_mix_in_one_cart(shop: Shop, category: dict[str, Any], shopper: Shopper) -> None:
    dollars = shop.product(category["id"])
    euros = shop.product(category["id"], currency="EUR")
    shopper.added(1, product_id=dollars["id"])
    assert_problem(shopper.add(1, product_id=euros["id"]), 409, "cart_currency_mismatch")


# --- changing quantities -------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_changing_a_quantity_reserves_or_releases_the_difference(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session], method: str
) -> None:
    product = shop.product(category["id"], stock_quantity=10)
    variant_id = _default_variant(product)
    item_id = shopper.added(2, product_id=product["id"])["items"][0]["id"]

    up = shopper.call(method, f"/items/{item_id}", {"quantity": 7})
    assert up.status_code == 200
    assert up.json["items"][0]["quantity"] == 7
    assert stock_of(sessions, variant_id) == (10, 7)

    down = shopper.call(method, f"/items/{item_id}", {"quantity": 4})
    assert down.status_code == 200
    assert down.json["subtotal_cents"] == 4000
    assert stock_of(sessions, variant_id) == (10, 4)


def test_raising_a_quantity_beyond_stock_changes_nothing(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    item_id = shopper.added(2, product_id=product["id"])["items"][0]["id"]
    body = assert_problem(shopper.call("PUT", f"/items/{item_id}", {"quantity": 6}), 409, "out_of_stock")
    assert body["available"] == 3
    assert stock_of(sessions, _default_variant(product)) == (5, 2)
    assert shopper.get()["items"][0]["quantity"] == 2


def test_quantity_zero_removes_the_line(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(3, product_id=product["id"])["items"][0]["id"]
    response = shopper.call("PATCH", f"/items/{item_id}", {"quantity": 0})
    assert response.status_code == 200
    assert response.json["items"] == []
    assert total_reserved(sessions) == 0
    assert cart_lines(sessions) == 0


@pytest.mark.parametrize("quantity", [-1, 101, "3", True, 2.5])
def test_bad_update_quantities_are_refused(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session], quantity: Any
) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(2, product_id=product["id"])["items"][0]["id"]
    assert_problem(shopper.call("PUT", f"/items/{item_id}", {"quantity": quantity}), 422, "validation_error")
    assert stock_of(sessions, _default_variant(product)) == (10, 2)


def test_another_customers_line_is_not_found_and_untouched(
    shop: Shop,
    category: dict[str, Any],
    shopper: Shopper,
    client: FlaskClient,
    sessions: sessionmaker[Session],
) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(2, product_id=product["id"])["items"][0]["id"]
    intruder = Shopper(client, customer(client))
    for method, path, body in [
        ("PUT", f"/items/{item_id}", {"quantity": 5}),
        ("DELETE", f"/items/{item_id}", None),
        ("POST", f"/items/{item_id}/save-for-later", None),
        ("POST", f"/saved/{item_id}/move-to-cart", None),
        ("DELETE", f"/saved/{item_id}", None),
    ]:
        assert_problem(intruder.call(method, path, body), 404, "cart_item_not_found")
    assert stock_of(sessions, _default_variant(product)) == (10, 2)
    assert shopper.get()["items"][0]["quantity"] == 2


@pytest.mark.parametrize("item_id", [999_999, 2**40, 2**100])
def test_unknown_items_are_not_found(shopper: Shopper, item_id: int) -> None:
    for method, path, body in [
        ("PUT", f"/items/{item_id}", {"quantity": 1}),
        ("PATCH", f"/items/{item_id}", {"quantity": 0}),
        ("DELETE", f"/items/{item_id}", None),
        ("POST", f"/items/{item_id}/save-for-later", None),
        ("POST", f"/saved/{item_id}/move-to-cart", None),
        ("DELETE", f"/saved/{item_id}", None),
    ]:
        assert_problem(shopper.call(method, path, body), 404, "cart_item_not_found")


# --- removing and clearing ----------------------------------------------------------------------------
def test_removing_a_line_releases_it(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    keep, drop = shop.product(category["id"]), shop.product(category["id"])
    shopper.added(1, product_id=keep["id"])
    item_id = shopper.added(4, product_id=drop["id"])["items"][1]["id"]
    response = shopper.call("DELETE", f"/items/{item_id}")
    assert response.status_code == 200
    assert [line["product_id"] for line in response.json["items"]] == [keep["id"]]
    assert stock_of(sessions, _default_variant(drop)) == (10, 0)
    assert_problem(shopper.call("DELETE", f"/items/{item_id}"), 404, "cart_item_not_found")


def test_clearing_the_cart_releases_every_line_and_keeps_saved_items(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    first, second, saved = (shop.product(category["id"]) for _ in range(3))
    shopper.added(2, product_id=first["id"])
    shopper.added(3, product_id=second["id"])
    saved_line = shopper.added(1, product_id=saved["id"])["items"][2]
    shopper.call("POST", f"/items/{saved_line['id']}/save-for-later")

    response = shopper.call("DELETE", "")

    assert response.status_code == 200
    assert response.json["items"] == []
    assert [line["product_id"] for line in response.json["saved_items"]] == [saved["id"]]
    assert total_reserved(sessions) == 0


# --- save for later ---------------------------------------------------------------------------------
def test_save_for_later_releases_and_move_to_cart_reserves_again(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    variant_id = _default_variant(product)
    item_id = shopper.added(3, product_id=product["id"])["items"][0]["id"]

    saved = shopper.call("POST", f"/items/{item_id}/save-for-later")
    assert saved.status_code == 200
    assert saved.json["items"] == []
    assert [(line["variant_id"], line["quantity"]) for line in saved.json["saved_items"]] == [(variant_id, 3)]
    assert saved.json["subtotal_cents"] == 0
    assert stock_of(sessions, variant_id) == (5, 0)

    saved_id = saved.json["saved_items"][0]["id"]
    moved = shopper.call("POST", f"/saved/{saved_id}/move-to-cart")
    assert moved.status_code == 200
    assert moved.json["saved_items"] == []
    assert [line["quantity"] for line in moved.json["items"]] == [3]
    assert stock_of(sessions, variant_id) == (5, 3)


def test_moving_back_needs_stock_and_leaves_the_item_saved(
    shop: Shop,
    category: dict[str, Any],
    shopper: Shopper,
    client: FlaskClient,
    sessions: sessionmaker[Session],
) -> None:
    product = shop.product(category["id"], stock_quantity=3)
    item_id = shopper.added(3, product_id=product["id"])["items"][0]["id"]
    saved_id = shopper.call("POST", f"/items/{item_id}/save-for-later").json["saved_items"][0]["id"]
    Shopper(client, customer(client)).added(2, product_id=product["id"])  # someone else takes two

    body = assert_problem(shopper.call("POST", f"/saved/{saved_id}/move-to-cart"), 409, "out_of_stock")

    assert body["available"] == 1
    assert [line["id"] for line in shopper.get()["saved_items"]] == [saved_id]
    assert stock_of(sessions, _default_variant(product)) == (3, 2)


def test_saving_a_variant_twice_merges_into_one_saved_item(
    shop: Shop, category: dict[str, Any], shopper: Shopper
) -> None:
    product = shop.product(category["id"])
    first = shopper.added(2, product_id=product["id"])["items"][0]["id"]
    shopper.call("POST", f"/items/{first}/save-for-later")
    second = shopper.added(1, product_id=product["id"])["items"][0]["id"]
    cart = shopper.call("POST", f"/items/{second}/save-for-later").json
    assert [line["quantity"] for line in cart["saved_items"]] == [3]


def test_a_saved_item_can_be_removed(shop: Shop, category: dict[str, Any], shopper: Shopper) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(1, product_id=product["id"])["items"][0]["id"]
    saved_id = shopper.call("POST", f"/items/{item_id}/save-for-later").json["saved_items"][0]["id"]
    response = shopper.call("DELETE", f"/saved/{saved_id}")
    assert response.status_code == 200
    assert response.json["saved_items"] == []


def test_cart_routes_do_not_accept_saved_item_ids(
    shop: Shop, category: dict[str, Any], shopper: Shopper
) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(1, product_id=product["id"])["items"][0]["id"]
    saved_id = shopper.call("POST", f"/items/{item_id}/save-for-later").json["saved_items"][0]["id"]
    assert_problem(shopper.call("PUT", f"/items/{saved_id}", {"quantity": 2}), 404, "cart_item_not_found")
    assert_problem(shopper.call("POST", f"/items/{saved_id}/save-for-later"), 404, "cart_item_not_found")


# --- prices and withdrawn products --------------------------------------------------------------------
def test_lines_show_the_current_price(shop: Shop, category: dict[str, Any], shopper: Shopper) -> None:
    product = shop.product(category["id"], price_cents=1000)
    shopper.added(2, product_id=product["id"])
    shop.update(product["id"], price_cents=1250)
    cart = shopper.get()
    assert cart["items"][0]["unit_price_cents"] == 1250
    assert cart["subtotal_cents"] == 2500


def test_a_line_whose_product_is_withdrawn_shows_unavailable_and_is_not_totalled(
    shop: Shop, category: dict[str, Any], shopper: Shopper
) -> None:
    kept, withdrawn = (
        shop.product(category["id"], price_cents=1000),
        shop.product(category["id"], price_cents=700),
    )
    shopper.added(1, product_id=kept["id"])
    shopper.added(1, product_id=withdrawn["id"])
    shop.delete(withdrawn["id"])

    cart = shopper.get()

    assert [(line["product_id"], line["available"]) for line in cart["items"]] == [
        (kept["id"], True),
        (withdrawn["id"], False),
    ]
    assert cart["subtotal_cents"] == 1000
    assert cart["item_count"] == 1
    item_id = cart["items"][1]["id"]
    assert_problem(shopper.call("PUT", f"/items/{item_id}", {"quantity": 2}), 404, "product_unavailable")
    assert shopper.call("PUT", f"/items/{item_id}", {"quantity": 0}).status_code == 200


# --- expiry ---------------------------------------------------------------------------------------------
def test_a_change_extends_the_expiry_but_reading_does_not(
    shop: Shop, category: dict[str, Any], shopper: Shopper, app: Flask
) -> None:
    product = shop.product(category["id"])
    ttl = timedelta(minutes=app.extensions["shopwright.settings"].CART_TTL_MINUTES)
    added = shopper.added(1, product_id=product["id"])
    assert timedelta(0) < _ts(added["expires_at"]) - datetime.now(_ts(added["expires_at"]).tzinfo) <= ttl
    assert shopper.get()["expires_at"] == added["expires_at"]
    again = shopper.added(1, product_id=product["id"])
    assert _ts(again["expires_at"]) > _ts(added["expires_at"])


def test_a_lapsed_cart_is_expired_on_access_and_its_lines_come_back_saved(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    old = shopper.added(3, product_id=product["id"])
    lapse_carts(sessions)

    cart = shopper.get()

    assert cart["id"] != old["id"]
    assert cart["items"] == []
    assert [(line["product_id"], line["quantity"]) for line in cart["saved_items"]] == [(product["id"], 3)]
    assert stock_of(sessions, _default_variant(product)) == (5, 0)
    assert shopper.get()["id"] == cart["id"]


def test_changing_a_lapsed_cart_starts_a_new_one(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    shopper.added(4, product_id=product["id"])
    lapse_carts(sessions)

    cart = shopper.added(2, product_id=product["id"])

    assert [line["quantity"] for line in cart["items"]] == [2]
    assert [line["quantity"] for line in cart["saved_items"]] == [4]
    assert stock_of(sessions, _default_variant(product)) == (5, 2)


def test_a_lapsed_line_id_is_gone(
    shop: Shop, category: dict[str, Any], shopper: Shopper, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(category["id"])
    item_id = shopper.added(2, product_id=product["id"])["items"][0]["id"]
    lapse_carts(sessions)
    assert_problem(shopper.call("PUT", f"/items/{item_id}", {"quantity": 3}), 404, "cart_item_not_found")
    assert total_reserved(sessions) == 0


def test_every_cart_answer_is_exactly_what_the_document_describes(
    shop: Shop, category: dict[str, Any], shopper: Shopper
) -> None:
    # The cart is built as JSON by cart.view.view_of, not dumped from schemas.CartOut: hold them together
    # on a cart with lines, a saved item and a withdrawn product.
    kept, saved, withdrawn = (shop.product(category["id"]) for _ in range(3))
    shopper.added(2, product_id=kept["id"])
    shopper.added(1, product_id=withdrawn["id"])
    line = shopper.added(1, product_id=saved["id"])["items"][2]
    answers = [shopper.call("POST", f"/items/{line['id']}/save-for-later").json]
    shop.delete(withdrawn["id"])
    answers.append(shopper.get())

    for body in answers:
        assert CartOut.model_validate(body).model_dump(mode="json") == body
    assert [item["available"] for item in answers[-1]["items"]] == [True, False]
    assert answers[-1]["subtotal_cents"] == 2 * kept["price_cents"]
