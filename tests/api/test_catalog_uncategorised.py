"""A product may have no category: created without one (or taken out of one), it lists, searches,
recommends and sells like any other and shows `category: null`."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, error_fields
from tests.factories.catalog import CATEGORIES, PRODUCTS, Shop, counts, product_row, unique_sku
from tests.factories.orders import Buyer


def _create(shop: Shop, **fields: Any) -> Any:
    body = {
        "name": "Gift card",
        "sku": unique_sku("GIFT"),
        "price_cents": 2500,
        "stock_quantity": 5,
        **fields,
    }
    return shop.client.post(PRODUCTS, json=body, headers=shop.headers)


def test_a_product_created_without_a_category_shows_category_null(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    # When an admin creates products leaving category_id out, or sending null
    left_out = _create(shop)
    null = _create(shop, category_id=None)

    # Then both exist without a category, in the answer, on the product page and in the database
    for response in (left_out, null):
        assert response.status_code == 201, response.json
        assert response.json["category"] is None
        assert client.get(f"{PRODUCTS}/{response.json['id']}").json == response.json
        assert product_row(sessions, response.json["id"]).category_id is None


def test_uncategorised_products_list_and_search_with_category_null(shop: Shop, client: FlaskClient) -> None:
    tents = shop.category("Tents")
    tent = shop.product(tents["id"], "Dome tent")
    card = shop.product(None, "Tent gift card")

    listed = client.get(PRODUCTS).json["items"]
    found = client.get(PRODUCTS, query_string={"q": "tent"}).json["items"]
    paged = client.get(PRODUCTS, query_string={"page": 1, "per_page": 10}).json

    assert [item["id"] for item in listed] == [card["id"], tent["id"]]
    assert {item["id"] for item in found} == {card["id"], tent["id"]}
    assert paged["total"] == 2
    by_id = {item["id"]: item for item in listed}
    assert by_id[card["id"]]["category"] is None
    assert by_id[card["id"]] == client.get(f"{PRODUCTS}/{card['id']}").json
    assert by_id[tent["id"]]["category"] == {"id": tents["id"], "name": "Tents", "slug": "tents"}
    # a category's list does not include products without one
    in_tents = client.get(f"{CATEGORIES}/{tents['id']}/products").json["items"]
    assert [item["id"] for item in in_tents] == [tent["id"]]


def test_patch_with_category_null_takes_a_product_out_and_leaving_it_out_keeps_it(
    shop: Shop, client: FlaskClient
) -> None:
    tents = shop.category("Tents")
    product = shop.product(tents["id"], "Dome tent")

    renamed = shop.update(product["id"], name="Tunnel tent")
    assert renamed["category"] == {"id": tents["id"], "name": "Tents", "slug": "tents"}

    cleared = shop.update(product["id"], category_id=None)
    assert cleared["category"] is None
    assert cleared["name"] == "Tunnel tent"

    moved_back = shop.update(product["id"], category_id=tents["id"])
    assert moved_back["category"]["id"] == tents["id"]
    # and a category emptied this way can be deleted once its product left it
    shop.update(product["id"], category_id=None)
    assert client.delete(f"{CATEGORIES}/{tents['id']}", headers=shop.headers).status_code == 204


def test_an_unknown_category_is_still_refused_and_nothing_is_written(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(None, "Gift card")
    before = counts(sessions)

    created = _create(shop, category_id=999_999)
    updated = shop.client.patch(
        f"{PRODUCTS}/{product['id']}", json={"category_id": 999_999}, headers=shop.headers
    )

    for response in (created, updated):
        assert error_fields(assert_problem(response, 422)) == {"category_id"}
    assert counts(sessions) == before
    assert product_row(sessions, product["id"]).category_id is None


def test_recommendations_of_an_uncategorised_product_come_from_nowhere_else(
    shop: Shop, client: FlaskClient
) -> None:
    card = shop.product(None, "Gift card")
    shop.product(None, "Another gift card")  # no category is not a shared category
    shop.product(shop.category("Tents")["id"], "Dome tent")

    response = client.get(f"{PRODUCTS}/{card['id']}/recommendations")

    assert response.status_code == 200
    assert response.json == {"items": []}


def test_an_uncategorised_product_sells_normally(shop: Shop, buyer: Buyer) -> None:
    card = shop.product(None, "Gift card", price_cents=2500, stock_quantity=5)

    order = buyer.buy(card["id"], quantity=2)
    paid = buyer.pay(order["id"])

    assert order["subtotal_cents"] == 5000
    assert [(item["product_id"], item["quantity"]) for item in order["items"]] == [(card["id"], 2)]
    assert paid.status_code == 200, paid.json
    assert buyer.order(order["id"])["status"] == "paid"
