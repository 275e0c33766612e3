"""Admin stock: GET /api/admin/inventory and PUT /api/admin/inventory/<variant_id>."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, customer, error_fields
from tests.factories.cart import Shopper
from tests.factories.catalog import Shop, stock_of

INVENTORY = "/api/admin/inventory"


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    category = shop.category("Laptops")
    return shop.product(category["id"], "Laptop 13", stock_quantity=10, sku="LAP-13")


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def _put(shop: Shop, variant_id: int, body: Any) -> Any:
    return shop.client.put(f"{INVENTORY}/{variant_id}", json=body, headers=shop.headers)


def test_customers_and_anonymous_users_cannot_see_or_change_stock(
    shop: Shop, product: dict[str, Any], client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    shopper = customer(client)
    assert_problem(client.get(INVENTORY), 401)
    assert_problem(client.get(INVENTORY, headers=shopper.headers), 403)
    assert_problem(client.put(f"{INVENTORY}/{_variant(product)}", json={"quantity": 1}), 401)
    response = client.put(f"{INVENTORY}/{_variant(product)}", json={"quantity": 1}, headers=shopper.headers)
    assert_problem(response, 403)
    assert stock_of(sessions, _variant(product)) == (10, 0)


def test_the_list_shows_quantity_reserved_and_available(
    shop: Shop, product: dict[str, Any], client: FlaskClient
) -> None:
    Shopper(client, customer(client)).added(3, product_id=product["id"])

    response = client.get(INVENTORY, headers=shop.headers)

    assert response.status_code == 200
    assert response.json == {
        "items": [
            {
                "variant_id": _variant(product),
                "product_id": product["id"],
                "sku": "LAP-13",
                "product_name": "Laptop 13",
                "variant_name": product["variants"][0]["name"],
                "quantity": 10,
                "reserved": 3,
                "available": 7,
            }
        ],
        "next_cursor": None,
    }


def test_low_stock_lists_variants_at_or_under_the_threshold(shop: Shop, client: FlaskClient) -> None:
    category = shop.category("Tools")
    stocks = {
        shop.product(category["id"], stock_quantity=q)["variants"][0]["id"]: q for q in (0, 3, 5, 6, 50)
    }

    def low(query: str) -> list[int]:
        response = client.get(f"{INVENTORY}?low_stock=true{query}", headers=shop.headers)
        assert response.status_code == 200, response.json
        return [item["available"] for item in response.json["items"]]

    assert low("") == [0, 3, 5]
    assert low("&threshold=0") == [0]
    assert low("&threshold=10") == [0, 3, 5, 6]
    assert len(client.get(INVENTORY, headers=shop.headers).json["items"]) == len(stocks)


def test_the_list_pages_with_a_cursor(shop: Shop, client: FlaskClient) -> None:
    category = shop.category("Tools")
    created = [shop.product(category["id"])["variants"][0]["id"] for _ in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = client.get(INVENTORY + query, headers=shop.headers).json
        seen += [item["variant_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(created)


@pytest.mark.parametrize(
    "query",
    ["?limit=0", "?limit=101", "?threshold=-1", "?cursor=bogus", "?low_stock=maybe", "?low_stock=1"],
)
def test_bad_list_queries_are_refused(shop: Shop, client: FlaskClient, query: str) -> None:
    assert client.get(INVENTORY + query, headers=shop.headers).status_code == 422


def test_setting_an_absolute_quantity(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    response = _put(shop, _variant(product), {"quantity": 25})
    assert response.status_code == 200
    assert (response.json["quantity"], response.json["available"]) == (25, 25)
    assert stock_of(sessions, _variant(product)) == (25, 0)


def test_changing_by_a_delta(shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]) -> None:
    assert _put(shop, _variant(product), {"delta": 5}).json["quantity"] == 15
    assert _put(shop, _variant(product), {"delta": -15}).json["quantity"] == 0
    assert stock_of(sessions, _variant(product)) == (0, 0)


@pytest.mark.parametrize("body", [{"quantity": 2}, {"delta": -9}])
def test_stock_never_goes_below_what_carts_reserve(
    shop: Shop,
    product: dict[str, Any],
    client: FlaskClient,
    sessions: sessionmaker[Session],
    body: dict[str, int],
) -> None:
    Shopper(client, customer(client)).added(3, product_id=product["id"])
    problem = assert_problem(_put(shop, _variant(product), body), 409, "stock_below_reserved")
    assert problem["reserved"] == 3
    assert stock_of(sessions, _variant(product)) == (10, 3)
    assert _put(shop, _variant(product), {"quantity": 3}).json["available"] == 0


def test_a_delta_below_zero_is_refused(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    assert_problem(_put(shop, _variant(product), {"delta": -11}), 409, "stock_below_reserved")
    assert stock_of(sessions, _variant(product)) == (10, 0)


def test_a_delta_beyond_the_maximum_is_refused(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    assert _put(shop, _variant(product), {"quantity": 10**9}).status_code == 200
    assert error_fields(assert_problem(_put(shop, _variant(product), {"delta": 1}), 422)) == {"delta"}
    assert stock_of(sessions, _variant(product)) == (10**9, 0)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"quantity": 1, "delta": 1},
        {"quantity": -1},
        {"quantity": "5"},
        {"quantity": True},
        {"quantity": 1.5},
        {"delta": "1"},
        {"quantity": 5, "reserved": 0},
    ],
)
def test_bad_stock_changes_are_refused_and_change_nothing(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session], body: dict[str, Any]
) -> None:
    assert_problem(_put(shop, _variant(product), body), 422, "validation_error")
    assert stock_of(sessions, _variant(product)) == (10, 0)


@pytest.mark.parametrize("variant_id", [999_999, 2**40])
def test_unknown_variants_are_not_found(shop: Shop, variant_id: int) -> None:
    assert_problem(_put(shop, variant_id, {"quantity": 1}), 404, "variant_not_found")
