"""The product list builds its JSON from rows, without Pydantic: every item must be exactly what the
documented ProductOut model gives, byte for byte, and what the product's own page answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.schemas import ProductOut
from tests.factories.catalog import CATEGORIES, PRODUCTS, Shop, set_rating, set_reserved


@pytest.fixture
def catalog(shop: Shop, sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Products covering every field: several variants (one inactive, one sold out, one reserved),
    attributes, a non-ASCII name, a rating, two categories, a product with no stock at all."""
    tents = shop.category("Tents")
    stoves = shop.category("Stöves", parent_id=tents["id"])
    rich = shop.product_with_variants(
        tents["id"],
        [
            {"price_cents": 15_000, "stock_quantity": 3, "attributes": {"size": "2p", "colour": "grün"}},
            {"price_cents": 12_500, "stock_quantity": 0, "name": "Sold out"},
            {"price_cents": 19_900, "stock_quantity": 5, "is_default": True, "attributes": {}},
        ],
        name="Tënt «Ultra» 2",
        description='Line one\nline "two" \u2603',
    )
    inactive = shop.add_variant(rich["id"], price_cents=100, stock_quantity=7)
    response = shop.client.patch(
        f"{PRODUCTS}/{rich['id']}/variants/{inactive['id']}", json={"is_active": False}, headers=shop.headers
    )
    assert response.status_code == 200, response.json
    by_price = {variant["price_cents"]: variant for variant in rich["variants"]}
    set_reserved(sessions, by_price[15_000]["id"], 3)  # all of its units are held by carts
    set_rating(sessions, rich["id"], [5, 4, 4])
    empty = shop.product(stoves["id"], "Stove", price_cents=4_999, stock_quantity=0)
    plain = shop.product(stoves["id"], "Pot", price_cents=999, stock_quantity=2)
    return [plain, empty, rich]


def _item_bytes(item: dict[str, Any]) -> bytes:
    return json.dumps(item, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 20},
        {"page": 1, "per_page": 20},
        {"sort": "price_asc"},
        {"in_stock": "true"},
    ],
)
def test_each_list_item_is_exactly_what_product_out_dumps(
    client: FlaskClient, catalog: list[dict[str, Any]], params: dict[str, Any]
) -> None:
    # When the list is read
    response = client.get(PRODUCTS, query_string=params)

    # Then every item is what the product page answers, with ProductOut's fields in ProductOut's order
    assert response.status_code == 200, response.json
    items = response.json["items"]
    assert items, "the catalog must not be empty"
    for item in items:
        detail = client.get(f"{PRODUCTS}/{item['id']}").json
        assert item == detail
        assert list(item) == list(ProductOut.model_fields)
        assert _item_bytes(item) == _item_bytes(ProductOut.model_validate(item).model_dump(mode="json"))


def test_the_list_shows_stock_active_variants_and_categories_as_the_product_page(
    client: FlaskClient, catalog: list[dict[str, Any]]
) -> None:
    plain, empty, rich = catalog

    items = {item["id"]: item for item in client.get(PRODUCTS).json["items"]}

    listed = items[rich["id"]]
    # The default variant first (it was created first), the inactive one not shown
    assert [(v["price_cents"], v["available"]) for v in listed["variants"]] == [
        (19_900, 5),
        (15_000, 0),
        (12_500, 0),
    ]
    assert listed["in_stock"] is True
    assert listed["price_cents"] == 12_500
    assert listed["rating_avg"] == 4.33
    assert listed["category"] == {"id": rich["category"]["id"], "name": "Tents", "slug": "tents"}
    assert listed["variants"][1]["attributes"] == {"size": "2p", "colour": "grün"}
    assert items[empty["id"]]["in_stock"] is False
    assert items[plain["id"]]["in_stock"] is True
    assert listed["created_at"].endswith("Z")
    assert listed["updated_at"].endswith("Z")


def test_a_category_list_answers_the_same_items(client: FlaskClient, catalog: list[dict[str, Any]]) -> None:
    plain, empty, rich = catalog

    everything = client.get(PRODUCTS).json["items"]
    tents = client.get(f"{CATEGORIES}/{rich['category']['id']}/products").json["items"]

    assert tents == everything  # Stöves is a sub-category of Tents
    assert [item["id"] for item in tents] == [plain["id"], empty["id"], rich["id"]]
