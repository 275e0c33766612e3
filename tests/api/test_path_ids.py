"""Ids in paths are ASCII digits: `/api/products/\\uff11` (a fullwidth 1) names no product."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.factories import assert_problem
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

# Unicode digits that Python's `\d` and `int()` accept as 1: fullwidth, Arabic-Indic, Devanagari.
UNICODE_ONES = ["\uff11", "\u0661", "\u0967"]


@pytest.mark.parametrize("digit", UNICODE_ONES)
def test_a_unicode_digit_is_not_a_product_id(shop: Shop, client: FlaskClient, digit: str) -> None:
    product = shop.product(shop.category()["id"])
    assert product["id"] == int(digit)  # the first product is 1: the digit would name it

    for path in (f"/api/products/{digit}", f"/api/products/{digit}/reviews"):
        assert_problem(client.get(path), 404, "not_found")
    assert client.get(f"/api/products/{product['id']}").status_code == 200


@pytest.mark.parametrize("digit", UNICODE_ONES)
def test_unicode_digits_reach_no_write(shop: Shop, buyer: Buyer, digit: str) -> None:
    product = shop.product(shop.category()["id"], price_cents=700, stock_quantity=5)
    order = buyer.buy(product["id"])
    assert order["id"] == 1

    response = buyer.client.post(f"/api/orders/{digit}/cancel", headers=buyer.account.headers)
    assert_problem(response, 404, "not_found")
    response = shop.client.delete(f"/api/products/{digit}", headers=shop.headers)
    assert_problem(response, 404, "not_found")

    assert buyer.order(order["id"])["status"] == "pending"
    assert shop.client.get(f"/api/products/{product['id']}").status_code == 200


def test_an_id_of_five_thousand_digits_is_404_not_500(client: FlaskClient) -> None:
    assert_problem(client.get("/api/products/" + "9" * 5000), 404)
