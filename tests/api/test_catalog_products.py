"""Products and variants: detail, admin create/update/delete, strict input, stock vs reserved, hiding."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, error_fields
from tests.factories.catalog import (
    PRODUCTS,
    Shop,
    counts,
    product_row,
    set_reserved,
    stock_of,
    unique_sku,
)

HUGE_ID = 10**20  # far beyond any id column: still just an unknown id


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Laptops")


def _detail(client: FlaskClient, product_id: int) -> dict[str, Any]:
    response = client.get(f"{PRODUCTS}/{product_id}")
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _listed_ids(client: FlaskClient) -> list[int]:
    response = client.get(PRODUCTS, query_string={"limit": 100})
    assert response.status_code == 200
    return [item["id"] for item in response.json["items"]]


def _payload(category_id: int, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Laptop Pro 13",
        "category_id": category_id,
        "sku": unique_sku("LAP"),
        "price_cents": 129900,
        "stock_quantity": 3,
    }
    values.update(overrides)
    return values


# --- create ------------------------------------------------------------------------------------
def test_create_with_the_shorthand_makes_one_default_variant(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    # Given the shorthand sku + price_cents + stock_quantity, with a lower-case SKU
    body = _payload(category["id"], sku="lap-13", description="A fast machine", cost_cents=90000)

    # When an admin creates the product
    response = client.post(PRODUCTS, json=body, headers=shop.headers)

    # Then it has exactly one default variant, the SKU stored upper-case, the stock available
    assert response.status_code == 201, response.json
    product = response.json
    assert product == {
        "id": product["id"],
        "name": "Laptop Pro 13",
        "slug": "laptop-pro-13",
        "description": "A fast machine",
        "category": {"id": category["id"], "name": "Laptops", "slug": "laptops"},
        "price_cents": 129900,
        "currency": "USD",
        "in_stock": True,
        "rating_avg": 0.0,
        "rating_count": 0,
        "variants": [
            {
                "id": product["variants"][0]["id"],
                "sku": "LAP-13",
                "name": "Laptop Pro 13",
                "price_cents": 129900,
                "currency": "USD",
                "attributes": {},
                "is_default": True,
                "available": 3,
            }
        ],
        "created_at": product["created_at"],
        "updated_at": product["updated_at"],
    }
    assert product["created_at"].endswith("Z")
    assert product["updated_at"].endswith("Z")
    assert "cost_cents" not in product["variants"][0]  # the cost is the shop's business only
    # And the detail answers the same representation
    assert _detail(client, product["id"]) == product


def test_variants_in_another_currency_than_the_product_are_refused(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    variants = [{"sku": "mix-1", "price_cents": 100}, {"sku": "mix-2", "price_cents": 100, "currency": "EUR"}]
    response = client.post(
        PRODUCTS,
        json={"name": "Mixed", "category_id": category["id"], "variants": variants},
        headers=shop.headers,
    )
    assert response.status_code == 422
    assert client.get(PRODUCTS).json["items"] == []

    created = client.post(
        PRODUCTS,
        json={
            "name": "Euro",
            "category_id": category["id"],
            "sku": "eu-1",
            "price_cents": 100,
            "currency": "EUR",
        },
        headers=shop.headers,
    ).json
    added = client.post(
        f"{PRODUCTS}/{created['id']}/variants",
        json={"sku": "eu-2", "price_cents": 5, "currency": "USD"},
        headers=shop.headers,
    )
    assert added.status_code == 422
    assert added.json["code"] == "currency_mismatch"
    inherited = client.post(
        f"{PRODUCTS}/{created['id']}/variants", json={"sku": "eu-3", "price_cents": 5}, headers=shop.headers
    )
    assert (inherited.status_code, inherited.json["currency"]) == (201, "EUR")


def test_create_with_variants_picks_the_marked_default_and_the_lowest_price(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    variants = [
        {
            "sku": "tee-s",
            "name": "Tee S",
            "price_cents": 1500,
            "stock_quantity": 4,
            "attributes": {"size": "S"},
        },
        {"sku": "tee-m", "name": "Tee M", "price_cents": 1200, "stock_quantity": 0, "is_default": True},
        {"sku": "tee-l", "price_cents": 1900, "currency": "usd"},
    ]

    response = client.post(
        PRODUCTS,
        json={"name": "Tee", "category_id": category["id"], "variants": variants},
        headers=shop.headers,
    )

    assert response.status_code == 201, response.json
    product = response.json
    assert product["price_cents"] == 1200
    assert product["in_stock"] is True  # Tee S has 4
    summary = [
        (
            v["sku"],
            v["name"],
            v["price_cents"],
            v["currency"],
            v["is_default"],
            v["available"],
            v["attributes"],
        )
        for v in product["variants"]
    ]
    # The default variant is created first; a variant without a name takes the product's
    assert summary == [
        ("TEE-M", "Tee M", 1200, "USD", True, 0, {}),
        ("TEE-S", "Tee S", 1500, "USD", False, 4, {"size": "S"}),
        ("TEE-L", "Tee", 1900, "USD", False, 0, {}),
    ]


def test_without_a_marked_default_the_first_variant_is_the_default(
    shop: Shop, category: dict[str, Any]
) -> None:
    product = shop.product_with_variants(category["id"], [{"price_cents": 500}, {"price_cents": 300}])

    assert [v["is_default"] for v in product["variants"]] == [True, False]
    assert product["price_cents"] == 300
    assert product["in_stock"] is False


def test_a_product_without_stock_is_listed_but_not_in_stock(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], stock_quantity=0)

    assert product["in_stock"] is False
    assert product["variants"][0]["available"] == 0
    assert _listed_ids(client) == [product["id"]]


def test_slugs_come_from_the_name_and_never_collide(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    first = shop.product(category["id"], "Café Crème")
    second = shop.product(category["id"], "Café Crème")
    third = shop.product(category["id"], "café crème!")
    symbols = shop.product(category["id"], "!!!")

    assert [first["slug"], second["slug"], third["slug"]] == ["cafe-creme", "cafe-creme-2", "cafe-creme-3"]
    assert symbols["slug"] == "item"


def test_an_explicit_slug_that_is_taken_is_409_and_nothing_is_written(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    shop.product(category["id"], slug="the-one")
    before = counts(sessions)

    response = client.post(PRODUCTS, json=_payload(category["id"], slug="the-one"), headers=shop.headers)

    assert_problem(response, 409, "slug_taken")
    assert counts(sessions) == before


@pytest.mark.parametrize("sku", ["LAP-13", "lap-13", "Lap-13"])
def test_a_sku_is_unique_whatever_its_case(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any], sku: str
) -> None:
    shop.product(category["id"], sku="lap-13")
    before = counts(sessions)

    response = client.post(PRODUCTS, json=_payload(category["id"], sku=sku), headers=shop.headers)

    assert_problem(response, 409, "sku_taken")
    assert counts(sessions) == before


def test_a_sku_of_a_deleted_product_stays_taken(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    gone = shop.product(category["id"], sku="OLD-1")
    shop.delete(gone["id"])

    response = client.post(PRODUCTS, json=_payload(category["id"], sku="old-1"), headers=shop.headers)

    assert_problem(response, 409, "sku_taken")  # orders keep pointing at it


def test_an_unknown_category_is_422_and_nothing_is_written(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    before = counts(sessions)

    for category_id in (category["id"] + 1000, HUGE_ID):
        response = client.post(PRODUCTS, json=_payload(category_id), headers=shop.headers)
        body = assert_problem(response, 422)
        assert body["code"] in {"unknown_category", "validation_error"}
        assert error_fields(body) == {"category_id"}
    assert counts(sessions) == before


INVALID_CREATE = [
    pytest.param({"price_cents": -1}, {"price_cents"}, id="negative-price"),
    pytest.param({"price_cents": True}, {"price_cents"}, id="price-true"),
    pytest.param({"price_cents": "2"}, {"price_cents"}, id="price-string"),
    pytest.param({"price_cents": 1.5}, {"price_cents"}, id="price-float"),
    pytest.param({"price_cents": 2.0}, {"price_cents"}, id="price-whole-float"),
    pytest.param({"price_cents": 10**12 + 1}, {"price_cents"}, id="price-absurd"),
    pytest.param({"cost_cents": -1}, {"cost_cents"}, id="negative-cost"),
    pytest.param({"cost_cents": "5"}, {"cost_cents"}, id="cost-string"),
    pytest.param({"stock_quantity": -1}, {"stock_quantity"}, id="negative-stock"),
    pytest.param({"stock_quantity": True}, {"stock_quantity"}, id="stock-true"),
    pytest.param({"stock_quantity": "2"}, {"stock_quantity"}, id="stock-string"),
    pytest.param({"stock_quantity": 1.5}, {"stock_quantity"}, id="stock-float"),
    pytest.param({"category_id": True}, {"category_id"}, id="category-true"),
    pytest.param({"category_id": "1"}, {"category_id"}, id="category-string"),
    pytest.param({"category_id": 1.5}, {"category_id"}, id="category-float"),
    pytest.param({"category_id": 0}, {"category_id"}, id="category-zero"),
    pytest.param({"is_active": 1}, {"is_active"}, id="is-active-int"),
    pytest.param({"is_active": "yes"}, {"is_active"}, id="is-active-string"),
    pytest.param({"name": ""}, {"name"}, id="empty-name"),
    pytest.param({"name": "x" * 201}, {"name"}, id="long-name"),
    pytest.param({"sku": ""}, {"sku"}, id="empty-sku"),
    pytest.param({"sku": "has space"}, {"sku"}, id="sku-space"),
    pytest.param({"sku": "-lead"}, {"sku"}, id="sku-leading-dash"),
    pytest.param({"sku": "S" * 65}, {"sku"}, id="sku-long"),
    pytest.param({"slug": "Not A Slug"}, {"slug"}, id="bad-slug"),
    pytest.param({"currency": "EURO"}, {"currency"}, id="bad-currency"),
    pytest.param({"currency": "ABC"}, {"currency"}, id="unknown-currency"),
    pytest.param({"colour": "red"}, {"colour"}, id="unknown-field"),
    pytest.param({"role": "admin"}, {"role"}, id="unknown-field-role"),
    pytest.param({"sku": None}, {""}, id="price-without-sku"),
    pytest.param({"price_cents": None}, {""}, id="sku-without-price"),
    pytest.param({"sku": None, "price_cents": None}, {""}, id="no-variant-at-all"),
    pytest.param({"variants": [{"sku": "V-1", "price_cents": 1}]}, {""}, id="shorthand-and-variants"),
]


def test_invalid_create_is_422_and_nothing_is_written(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    before = counts(sessions)
    for case in INVALID_CREATE:
        overrides, fields = case.values
        payload = {**_payload(category["id"]), **overrides}
        body = {k: v for k, v in payload.items() if v is not None}

        response = client.post(PRODUCTS, json=body, headers=shop.headers)

        problem = assert_problem(response, 422, "validation_error")
        assert error_fields(problem) == fields, case.id
        assert counts(sessions) == before, case.id


INVALID_VARIANTS = [
    pytest.param([], {""}, id="empty-list"),
    pytest.param(
        [{"sku": "a-1", "price_cents": 1}, {"sku": "A-1", "price_cents": 2}], {""}, id="same-sku-any-case"
    ),
    pytest.param(
        [
            {"sku": "a-1", "price_cents": 1, "is_default": True},
            {"sku": "a-2", "price_cents": 2, "is_default": True},
        ],
        {""},
        id="two-defaults",
    ),
    pytest.param([{"sku": "a-1", "price_cents": -5}], {"variants.0.price_cents"}, id="negative-price"),
    pytest.param([{"sku": "a-1", "price_cents": True}], {"variants.0.price_cents"}, id="price-true"),
    pytest.param([{"sku": "a-1", "price_cents": "7"}], {"variants.0.price_cents"}, id="price-string"),
    pytest.param(
        [{"sku": "a-1", "price_cents": 1, "stock_quantity": -1}], {"variants.0.stock_quantity"}, id="stock"
    ),
    pytest.param(
        [{"sku": "a-1", "price_cents": 1, "stock_quantity": 1.5}],
        {"variants.0.stock_quantity"},
        id="stock-fl",
    ),
    pytest.param(
        [{"sku": "a-1", "price_cents": 1, "is_default": 1}], {"variants.0.is_default"}, id="default-int"
    ),
    pytest.param([{"sku": "a-1", "price_cents": 1, "size": "M"}], {"variants.0.size"}, id="unknown-field"),
    pytest.param(
        [{"sku": "a-1", "price_cents": 1, "attributes": {"size": 3}}],
        {"variants.0.attributes.size"},
        id="attr",
    ),
    pytest.param([{"price_cents": 1}], {"variants.0.sku"}, id="missing-sku"),
    pytest.param([{"sku": "a-1"}], {"variants.0.price_cents"}, id="missing-price"),
]


def test_invalid_variants_are_422_and_nothing_is_written(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    before = counts(sessions)
    for case in INVALID_VARIANTS:
        variants, fields = case.values
        body = {"name": "Tee", "category_id": category["id"], "variants": variants}

        response = client.post(PRODUCTS, json=body, headers=shop.headers)

        problem = assert_problem(response, 422, "validation_error")
        assert error_fields(problem) == fields, case.id
        assert counts(sessions) == before, case.id


def test_a_variant_sku_taken_by_another_product_rolls_back_the_whole_product(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    shop.product(category["id"], sku="TAKEN-1")
    before = counts(sessions)
    variants = [
        {"sku": "FREE-1", "price_cents": 1, "stock_quantity": 5},
        {"sku": "taken-1", "price_cents": 2},
    ]

    response = client.post(
        PRODUCTS,
        json={"name": "Tee", "category_id": category["id"], "variants": variants},
        headers=shop.headers,
    )

    assert_problem(response, 409, "sku_taken")
    assert counts(sessions) == before  # no product, no FREE-1 variant, no stock row


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        pytest.param('{"name": "x",', "application/json", 400, id="malformed-json"),
        pytest.param("name=x", "application/x-www-form-urlencoded", 415, id="form"),
        pytest.param("[1, 2]", "application/json", 422, id="a-list"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    shop: Shop,
    client: FlaskClient,
    sessions: sessionmaker[Session],
    data: str,
    content_type: str,
    status: int,
) -> None:
    before = counts(sessions)

    response = client.post(PRODUCTS, data=data, content_type=content_type, headers=shop.headers)

    assert_problem(response, status)
    assert counts(sessions) == before


# --- detail ------------------------------------------------------------------------------------
def test_detail_reports_availability_net_of_reservations(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    variant_id = product["variants"][0]["id"]

    set_reserved(sessions, variant_id, 2)
    assert _detail(client, product["id"])["variants"][0]["available"] == 3
    assert _detail(client, product["id"])["in_stock"] is True

    set_reserved(sessions, variant_id, 5)
    detail = _detail(client, product["id"])
    assert detail["variants"][0]["available"] == 0
    assert detail["in_stock"] is False


def test_detail_works_with_a_trailing_slash(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])

    response = client.get(f"{PRODUCTS}/{product['id']}/")

    assert response.status_code == 200
    assert response.json["id"] == product["id"]


@pytest.mark.parametrize("product_id", [0, 999_999, 2**31, HUGE_ID])
def test_detail_of_an_unknown_product_is_404(shop: Shop, client: FlaskClient, product_id: int) -> None:
    response = client.get(f"{PRODUCTS}/{product_id}")

    assert_problem(response, 404, "product_not_found")


def test_a_non_numeric_product_id_is_404(client: FlaskClient) -> None:
    assert_problem(client.get(f"{PRODUCTS}/abc"), 404, "not_found")


def test_an_inactive_product_is_hidden_until_reactivated(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])

    hidden = shop.update(product["id"], is_active=False)

    assert hidden["id"] == product["id"]  # the admin still sees what they changed
    assert_problem(client.get(f"{PRODUCTS}/{product['id']}"), 404, "product_not_found")
    assert _listed_ids(client) == []
    shop.update(product["id"], is_active=True)
    assert _detail(client, product["id"])["id"] == product["id"]
    assert _listed_ids(client) == [product["id"]]


def test_a_product_created_inactive_is_hidden(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], is_active=False)

    assert_problem(client.get(f"{PRODUCTS}/{product['id']}"), 404, "product_not_found")
    assert _listed_ids(client) == []


# --- update ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_changes_product_fields(
    shop: Shop, client: FlaskClient, category: dict[str, Any], method: str
) -> None:
    product = shop.product(category["id"], "Old name")
    other = shop.category("Tablets")
    changes = {
        "name": "New name",
        "description": "Now with more",
        "slug": "new-slug",
        "category_id": other["id"],
    }

    response = getattr(client, method)(f"{PRODUCTS}/{product['id']}", json=changes, headers=shop.headers)

    assert response.status_code == 200, response.json
    detail = _detail(client, product["id"])
    assert response.json == detail
    assert (detail["name"], detail["description"], detail["slug"]) == (
        "New name",
        "Now with more",
        "new-slug",
    )
    assert detail["category"] == {"id": other["id"], "name": "Tablets", "slug": "tablets"}
    assert detail["variants"] == product["variants"]  # variants untouched
    assert detail["updated_at"] >= product["updated_at"]


def test_the_shorthand_fields_update_only_the_default_variant(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product_with_variants(
        category["id"],
        [{"price_cents": 5000, "stock_quantity": 1}, {"price_cents": 4000, "stock_quantity": 2}],
    )
    default, other = product["variants"]

    updated = shop.update(product["id"], price_cents=3000, sku="new-default", stock_quantity=7, cost_cents=10)

    assert [(v["id"], v["sku"], v["price_cents"], v["available"]) for v in updated["variants"]] == [
        (default["id"], "NEW-DEFAULT", 3000, 7),
        (other["id"], other["sku"], 4000, 2),
    ]
    assert updated["price_cents"] == 3000  # the lowest price follows
    assert _detail(client, product["id"]) == updated
    raised = shop.update(product["id"], price_cents=9000)
    assert raised["price_cents"] == 4000


def test_an_empty_update_changes_nothing(shop: Shop, client: FlaskClient, category: dict[str, Any]) -> None:
    product = shop.product(category["id"])

    response = client.patch(f"{PRODUCTS}/{product['id']}", json={}, headers=shop.headers)

    assert response.status_code == 200
    assert {k: v for k, v in response.json.items() if k != "updated_at"} == {
        k: v for k, v in product.items() if k != "updated_at"
    }


def test_stock_can_go_down_to_reserved_but_not_below(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], stock_quantity=10)
    variant_id = product["variants"][0]["id"]
    set_reserved(sessions, variant_id, 4)

    below = client.patch(
        f"{PRODUCTS}/{product['id']}", json={"stock_quantity": 3, "name": "Renamed"}, headers=shop.headers
    )

    body = assert_problem(below, 409, "stock_below_reserved")
    assert body["reserved"] == 4
    assert stock_of(sessions, variant_id) == (10, 4)
    assert _detail(client, product["id"])["name"] == product["name"]  # the whole update rolled back

    at_reserved = shop.update(product["id"], stock_quantity=4)
    assert at_reserved["variants"][0]["available"] == 0
    assert at_reserved["in_stock"] is False
    assert stock_of(sessions, variant_id) == (4, 4)


def test_stock_below_reserved_through_the_variant_route_is_409(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], stock_quantity=6)
    variant_id = product["variants"][0]["id"]
    set_reserved(sessions, variant_id, 5)

    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{variant_id}",
        json={"stock_quantity": 4, "price_cents": 1},
        headers=shop.headers,
    )

    assert_problem(response, 409, "stock_below_reserved")
    assert stock_of(sessions, variant_id) == (6, 5)
    assert (
        _detail(client, product["id"])["variants"][0]["price_cents"] == product["variants"][0]["price_cents"]
    )


def test_changing_the_sku_to_a_taken_one_is_409_and_changes_nothing(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    shop.product(category["id"], sku="TAKEN-2")
    product = shop.product(category["id"])

    response = client.patch(
        f"{PRODUCTS}/{product['id']}", json={"sku": "taken-2", "name": "Other"}, headers=shop.headers
    )

    assert_problem(response, 409, "sku_taken")
    assert _detail(client, product["id"]) == product


def test_changing_the_slug_to_a_taken_one_is_409(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    shop.product(category["id"], slug="taken-slug")
    product = shop.product(category["id"])

    response = client.patch(f"{PRODUCTS}/{product['id']}", json={"slug": "taken-slug"}, headers=shop.headers)

    assert_problem(response, 409, "slug_taken")
    assert _detail(client, product["id"]) == product


def test_moving_to_an_unknown_category_is_422(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])

    response = client.patch(
        f"{PRODUCTS}/{product['id']}", json={"category_id": category["id"] + 100}, headers=shop.headers
    )

    assert_problem(response, 422, "unknown_category")
    assert _detail(client, product["id"]) == product


INVALID_UPDATE = [
    pytest.param({"price_cents": -1}, "price_cents", id="negative-price"),
    pytest.param({"price_cents": True}, "price_cents", id="price-true"),
    pytest.param({"price_cents": "2"}, "price_cents", id="price-string"),
    pytest.param({"price_cents": 1.5}, "price_cents", id="price-float"),
    pytest.param({"cost_cents": -3}, "cost_cents", id="negative-cost"),
    pytest.param({"stock_quantity": -1}, "stock_quantity", id="negative-stock"),
    pytest.param({"stock_quantity": False}, "stock_quantity", id="stock-false"),
    pytest.param({"stock_quantity": "2"}, "stock_quantity", id="stock-string"),
    pytest.param({"stock_quantity": 2.5}, "stock_quantity", id="stock-float"),
    pytest.param({"category_id": True}, "category_id", id="category-true"),
    pytest.param({"category_id": "1"}, "category_id", id="category-string"),
    pytest.param({"is_active": "false"}, "is_active", id="is-active-string"),
    pytest.param({"name": ""}, "name", id="empty-name"),
    pytest.param({"sku": "bad sku"}, "sku", id="bad-sku"),
    pytest.param({"currency": "EUR"}, "currency", id="currency-not-updatable"),
    pytest.param({"variants": []}, "variants", id="variants-not-updatable"),
    pytest.param({"rating_avg": 5}, "rating_avg", id="rating-not-writable"),
    pytest.param({"colour": "red"}, "colour", id="unknown-field"),
    # the shorthand edits the default variant, whose columns hold no null
    pytest.param({"sku": None}, "sku", id="sku-null"),
    pytest.param({"price_cents": None}, "price_cents", id="price-null"),
    pytest.param({"cost_cents": None}, "cost_cents", id="cost-null"),
]


def test_invalid_update_is_422_and_changes_nothing(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], stock_quantity=5)
    before = counts(sessions)

    for case in INVALID_UPDATE:
        changes, field = case.values
        for method in ("put", "patch"):
            response = getattr(client, method)(
                f"{PRODUCTS}/{product['id']}", json={"name": "Changed", **changes}, headers=shop.headers
            )

            problem = assert_problem(response, 422, "validation_error")
            assert error_fields(problem) == {field}, (case.id, method)
    assert _detail(client, product["id"]) == product
    assert counts(sessions) == before
    assert stock_of(sessions, product["variants"][0]["id"]) == (5, 0)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("product_id", [999_999, HUGE_ID])
def test_writing_an_unknown_product_is_404(
    shop: Shop, client: FlaskClient, method: str, product_id: int
) -> None:
    kwargs = {} if method == "delete" else {"json": {"name": "x"}}

    response = getattr(client, method)(f"{PRODUCTS}/{product_id}", headers=shop.headers, **kwargs)

    assert_problem(response, 404, "product_not_found")


# --- delete ------------------------------------------------------------------------------------
def test_delete_is_soft_and_hides_the_product_everywhere(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    kept = shop.product(category["id"])

    response = client.delete(f"{PRODUCTS}/{product['id']}", headers=shop.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_problem(client.get(f"{PRODUCTS}/{product['id']}"), 404, "product_not_found")
    assert _listed_ids(client) == [kept["id"]]
    recommendations = client.get(f"{PRODUCTS}/{kept['id']}/recommendations").json["items"]
    assert [item["id"] for item in recommendations] == []
    # The row stays (orders refer to it), marked deleted
    row = product_row(sessions, product["id"])
    assert row.deleted_at is not None
    assert row.name == product["name"]


def test_a_deleted_product_cannot_be_deleted_updated_or_extended(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    shop.delete(product["id"])
    deleted_at = product_row(sessions, product["id"]).deleted_at
    before = counts(sessions)
    path = f"{PRODUCTS}/{product['id']}"
    variant_id = product["variants"][0]["id"]

    answers = [
        client.delete(path, headers=shop.headers),
        client.patch(path, json={"is_active": True}, headers=shop.headers),
        client.put(path, json={"name": "Back"}, headers=shop.headers),
        client.post(f"{path}/variants", json={"sku": "NEW-9", "price_cents": 1}, headers=shop.headers),
        client.patch(f"{path}/variants/{variant_id}", json={"price_cents": 1}, headers=shop.headers),
    ]

    for response in answers:
        assert_problem(response, 404, "product_not_found")
    assert counts(sessions) == before
    assert product_row(sessions, product["id"]).deleted_at == deleted_at
    assert_problem(client.get(path), 404, "product_not_found")


# --- variants ----------------------------------------------------------------------------------
def test_add_a_variant(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], price_cents=2000)
    body = {
        "sku": "tee-xl",
        "name": "XL",
        "price_cents": 1800,
        "stock_quantity": 4,
        "attributes": {"size": "XL"},
    }

    response = client.post(f"{PRODUCTS}/{product['id']}/variants", json=body, headers=shop.headers)

    assert response.status_code == 201, response.json
    variant = response.json
    assert variant == {
        "id": variant["id"],
        "sku": "TEE-XL",
        "name": "XL",
        "price_cents": 1800,
        "currency": "USD",
        "attributes": {"size": "XL"},
        "is_default": False,
        "available": 4,
    }
    assert stock_of(sessions, variant["id"]) == (4, 0)
    detail = _detail(client, product["id"])
    assert [v["id"] for v in detail["variants"]] == [product["variants"][0]["id"], variant["id"]]
    assert detail["price_cents"] == 1800


def test_a_new_default_variant_takes_over_the_shorthand(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], price_cents=2000)
    old_default = product["variants"][0]["id"]

    new = shop.add_variant(product["id"], price_cents=2500, is_default=True)
    shop.update(product["id"], price_cents=2600)

    detail = _detail(client, product["id"])
    by_id = {v["id"]: v for v in detail["variants"]}
    assert (by_id[new["id"]]["is_default"], by_id[old_default]["is_default"]) == (True, False)
    assert (by_id[new["id"]]["price_cents"], by_id[old_default]["price_cents"]) == (2600, 2000)


INVALID_NEW_VARIANTS = [
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": True}, "price_cents"),
    ({"price_cents": "1"}, "price_cents"),
    ({"stock_quantity": -2}, "stock_quantity"),
    ({"stock_quantity": 1.5}, "stock_quantity"),
    ({"is_default": "true"}, "is_default"),
    ({"colour": "red"}, "colour"),
    ({"is_active": None}, "is_active"),  # a variant's columns hold no null
    ({"sku": None}, "sku"),
    ({"price_cents": None}, "price_cents"),
    ({"attributes": None}, "attributes"),
    ({"is_default": None}, "is_default"),
]


def test_an_invalid_new_variant_is_422_and_nothing_is_written(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    before = counts(sessions)

    for body, field in INVALID_NEW_VARIANTS:
        response = client.post(
            f"{PRODUCTS}/{product['id']}/variants",
            json={"sku": "NEW-1", "price_cents": 1, **body},
            headers=shop.headers,
        )

        problem = assert_problem(response, 422, "validation_error")
        assert error_fields(problem) == {field}, body
    assert counts(sessions) == before
    assert _detail(client, product["id"]) == product


def test_a_new_variant_with_a_taken_sku_is_409(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], sku="TAKEN-3")
    before = counts(sessions)

    response = client.post(
        f"{PRODUCTS}/{product['id']}/variants",
        json={"sku": "taken-3", "price_cents": 1, "is_default": True},
        headers=shop.headers,
    )

    assert_problem(response, 409, "sku_taken")
    assert counts(sessions) == before
    assert _detail(client, product["id"]) == product  # the default did not move either


def test_update_a_variant(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], price_cents=2000)
    variant = shop.add_variant(product["id"], price_cents=2500, stock_quantity=1)

    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{variant['id']}",
        json={
            "sku": "renamed-1",
            "name": "Blue",
            "price_cents": 1500,
            "stock_quantity": 9,
            "cost_cents": 7,
            "attributes": {"colour": "blue"},
        },
        headers=shop.headers,
    )

    assert response.status_code == 200, response.json
    assert response.json == {
        **variant,
        "sku": "RENAMED-1",
        "name": "Blue",
        "price_cents": 1500,
        "available": 9,
        "attributes": {"colour": "blue"},
    }
    assert stock_of(sessions, variant["id"]) == (9, 0)
    assert _detail(client, product["id"])["price_cents"] == 1500


def test_make_another_variant_the_default(shop: Shop, client: FlaskClient, category: dict[str, Any]) -> None:
    product = shop.product(category["id"])
    variant = shop.add_variant(product["id"])

    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{variant['id']}",
        json={"is_default": True},
        headers=shop.headers,
    )

    assert response.status_code == 200
    assert response.json["is_default"] is True
    defaults = [v["id"] for v in _detail(client, product["id"])["variants"] if v["is_default"]]
    assert defaults == [variant["id"]]


def test_a_deactivated_variant_disappears_and_no_longer_sets_the_price(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"], price_cents=2000, stock_quantity=0)
    cheap = shop.add_variant(product["id"], price_cents=500, stock_quantity=3)
    assert _detail(client, product["id"])["price_cents"] == 500

    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{cheap['id']}", json={"is_active": False}, headers=shop.headers
    )

    assert response.status_code == 200
    detail = _detail(client, product["id"])
    assert [v["id"] for v in detail["variants"]] == [product["variants"][0]["id"]]
    assert detail["price_cents"] == 2000
    assert detail["in_stock"] is False  # only the inactive variant had stock
    in_stock = client.get(PRODUCTS, query_string={"in_stock": "true"}).json["items"]
    assert in_stock == []
    # And back
    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{cheap['id']}", json={"is_active": True}, headers=shop.headers
    )
    assert response.status_code == 200
    detail = _detail(client, product["id"])
    assert [v["id"] for v in detail["variants"]] == [product["variants"][0]["id"], cheap["id"]]
    assert (detail["price_cents"], detail["in_stock"]) == (500, True)


@pytest.mark.parametrize(
    "body", [{"is_default": True}, {"is_default": True, "is_active": False}], ids=["inactive", "deactivating"]
)
def test_an_inactive_variant_cannot_become_the_default(
    shop: Shop, client: FlaskClient, category: dict[str, Any], body: dict[str, Any]
) -> None:
    # Otherwise the active old default could then be deactivated too: a listed product with no variant
    # to buy and a price of 0
    product = shop.product(category["id"], price_cents=2000)
    other = shop.add_variant(product["id"], price_cents=3000)
    path = f"{PRODUCTS}/{product['id']}/variants/{other['id']}"
    if "is_active" not in body:
        assert client.patch(path, json={"is_active": False}, headers=shop.headers).status_code == 200
    before = _detail(client, product["id"])

    response = client.patch(path, json=body, headers=shop.headers)

    assert_problem(response, 409, "last_variant")
    assert _detail(client, product["id"]) == before
    assert [v["id"] for v in before["variants"] if v["is_default"]] == [product["variants"][0]["id"]]


def test_the_default_variant_cannot_be_deactivated(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    default_id = product["variants"][0]["id"]

    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{default_id}", json={"is_active": False}, headers=shop.headers
    )

    assert_problem(response, 409, "last_variant")
    assert _detail(client, product["id"]) == product


INVALID_VARIANT_UPDATES = [
    ({"is_default": False}, "is_default"),
    ({"price_cents": -1}, "price_cents"),
    ({"price_cents": "9"}, "price_cents"),
    ({"stock_quantity": True}, "stock_quantity"),
    ({"is_active": 0}, "is_active"),
    ({"currency": "EUR"}, "currency"),
    ({"colour": "red"}, "colour"),
    ({"is_active": None}, "is_active"),  # a variant's columns hold no null
    ({"sku": None}, "sku"),
    ({"price_cents": None}, "price_cents"),
    ({"attributes": None}, "attributes"),
    ({"is_default": None}, "is_default"),
]


def test_an_invalid_variant_update_is_422_and_changes_nothing(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    variant_id = product["variants"][0]["id"]

    for body, field in INVALID_VARIANT_UPDATES:
        response = client.patch(
            f"{PRODUCTS}/{product['id']}/variants/{variant_id}",
            json={"name": "Changed", **body},
            headers=shop.headers,
        )

        problem = assert_problem(response, 422, "validation_error")
        assert error_fields(problem) == {field}, body
    assert _detail(client, product["id"]) == product
    assert stock_of(sessions, variant_id) == (10, 0)


def test_a_variant_of_another_product_or_an_unknown_one_is_404(
    shop: Shop, client: FlaskClient, category: dict[str, Any]
) -> None:
    product = shop.product(category["id"])
    other = shop.product(category["id"])
    foreign_variant = other["variants"][0]["id"]

    for variant_id in (foreign_variant, 999_999, HUGE_ID):
        response = client.patch(
            f"{PRODUCTS}/{product['id']}/variants/{variant_id}", json={"price_cents": 1}, headers=shop.headers
        )
        assert_problem(response, 404, "variant_not_found")
    assert _detail(client, other["id"]) == other
    for product_id in (999_999, HUGE_ID):
        response = client.post(
            f"{PRODUCTS}/{product_id}/variants", json={"sku": "X-1", "price_cents": 1}, headers=shop.headers
        )
        assert_problem(response, 404, "product_not_found")
