"""When a cart change breaks several rules at once, the answer names the first of them, in this order:
the variant cannot be bought (404), the cart is full (422), the line would hold too many units (422), the
currencies would mix (409), the stock is short (409). Whatever the answer, nothing changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, customer
from tests.factories.cart import Shopper, total_reserved
from tests.factories.catalog import Shop, empty_catalog


class OneLineShop(NamedTuple):
    shop: Shop
    category: int
    shopper: Shopper


@pytest.fixture
def one_line(make_app: Callable[..., Flask], sessions: sessionmaker[Session]) -> Iterator[OneLineShop]:
    """A shop whose carts hold one line (CART_MAX_LINES=1), a category and a customer; emptied after."""
    app = make_app(CART_MAX_LINES=1)
    shop = Shop(app, app.test_client())
    yield OneLineShop(shop, shop.category()["id"], Shopper(shop.client, customer(shop.client)))
    empty_catalog(sessions)


def _unchanged(
    shopper: Shopper, sessions: sessionmaker[Session], before: dict[str, Any], reserved: int
) -> None:
    def lines(cart: dict[str, Any]) -> list[tuple[int, int, int, bool]]:
        return [
            (line["id"], line["variant_id"], line["quantity"], kind == "saved_items")
            for kind in ("items", "saved_items")
            for line in cart[kind]
        ]

    assert lines(shopper.get()) == lines(before)
    assert total_reserved(sessions) == reserved


def test_an_unavailable_variant_comes_before_a_full_cart(
    one_line: OneLineShop, sessions: sessionmaker[Session]
) -> None:
    shop, category, shopper = one_line
    before = shopper.added(1, product_id=shop.product(category)["id"])
    hidden = shop.product(category)
    shop.hide(hidden["id"])

    assert_problem(shopper.add(1, product_id=hidden["id"]), 404, "product_unavailable")
    _unchanged(shopper, sessions, before, 1)


def test_a_full_cart_comes_before_short_stock(one_line: OneLineShop, sessions: sessionmaker[Session]) -> None:
    shop, category, shopper = one_line
    before = shopper.added(1, product_id=shop.product(category)["id"])
    scarce = shop.product(category, stock_quantity=1)

    assert_problem(shopper.add(2, product_id=scarce["id"]), 422, "cart_full")
    _unchanged(shopper, sessions, before, 1)


def test_a_line_too_big_comes_before_short_stock(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    shopper = Shopper(client, customer(client))
    product = shop.product(shop.category()["id"], stock_quantity=100)
    before = shopper.added(60, product_id=product["id"])

    assert_problem(shopper.add(50, product_id=product["id"]), 422, "line_quantity_exceeded")
    _unchanged(shopper, sessions, before, 60)


@pytest.mark.parametrize(
    ("currency", "code"),
    [("EUR", "cart_currency_mismatch"), ("USD", "out_of_stock")],
    ids=["mixed currencies come first", "alone it is short stock"],
)
def test_a_new_line_of_a_scarce_variant(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], currency: str, code: str
) -> None:
    shopper = Shopper(client, customer(client))
    category = shop.category()["id"]
    before = shopper.added(1, product_id=shop.product(category)["id"])  # a line in USD
    scarce = shop.product(category, currency=currency, stock_quantity=1)

    assert_problem(shopper.add(2, product_id=scarce["id"]), 409, code)
    _unchanged(shopper, sessions, before, 1)


def _saved_item(shopper: Shopper, product_id: int, quantity: int) -> dict[str, Any]:
    """Add `quantity` units of the product and save them for later; return the saved item."""
    line = shopper.added(quantity, product_id=product_id)["items"][-1]
    response = shopper.call("POST", f"/items/{line['id']}/save-for-later")
    assert response.status_code == 200, response.json
    saved: dict[str, Any] = response.json["saved_items"][-1]
    return saved


def test_moving_back_an_unavailable_item_into_a_full_cart_is_unavailable(
    one_line: OneLineShop, sessions: sessionmaker[Session]
) -> None:
    shop, category, shopper = one_line
    withdrawn = shop.product(category)
    saved = _saved_item(shopper, withdrawn["id"], 1)
    shop.hide(withdrawn["id"])
    before = shopper.added(1, product_id=shop.product(category)["id"])

    assert_problem(shopper.call("POST", f"/saved/{saved['id']}/move-to-cart"), 404, "product_unavailable")
    _unchanged(shopper, sessions, before, 1)


def test_moving_back_a_scarce_item_into_a_full_cart_is_cart_full(
    one_line: OneLineShop, sessions: sessionmaker[Session]
) -> None:
    shop, category, shopper = one_line
    scarce = shop.product(category, stock_quantity=2)
    saved = _saved_item(shopper, scarce["id"], 2)
    other = Shopper(shop.client, customer(shop.client))
    other.added(1, product_id=scarce["id"])  # one unit left: the saved two no longer fit
    before = shopper.added(1, product_id=shop.product(category)["id"])

    assert_problem(shopper.call("POST", f"/saved/{saved['id']}/move-to-cart"), 422, "cart_full")
    _unchanged(shopper, sessions, before, 2)


def test_moving_back_onto_a_line_past_100_units_comes_before_short_stock(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    shopper = Shopper(client, customer(client))
    product = shop.product(shop.category()["id"], stock_quantity=100)
    saved = _saved_item(shopper, product["id"], 60)
    before = shopper.added(50, product_id=product["id"])

    response = shopper.call("POST", f"/saved/{saved['id']}/move-to-cart")

    assert_problem(response, 422, "line_quantity_exceeded")
    _unchanged(shopper, sessions, before, 50)


def test_raising_the_quantity_of_a_withdrawn_line_past_its_stock_is_unavailable(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    shopper = Shopper(client, customer(client))
    product = shop.product(shop.category()["id"], stock_quantity=3)
    before = shopper.added(1, product_id=product["id"])
    shop.hide(product["id"])

    response = shopper.call("PATCH", f"/items/{before['items'][0]['id']}", {"quantity": 5})

    assert_problem(response, 404, "product_unavailable")
    _unchanged(shopper, sessions, before, 1)
