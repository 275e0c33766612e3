"""What the API sends is what its OpenAPI document says: real answers of every list (and a few more)
are validated against the served document's schema for their status and media type, with jsonschema.

A client generated from the document parses exactly these; tests/e2e/test_generated_client.py does so.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse

from tests.factories import Account
from tests.factories.catalog import PRODUCTS, Shop
from tests.factories.orders import Buyer

ADDRESS = {"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Springfield", "postal_code": "12345"}


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/api/openapi.json").json  # type: ignore[assignment]
    return spec


def assert_documented(document: dict[str, Any], method: str, path: str, response: TestResponse) -> None:
    """Assert the response's status, media type and body are the ones the document gives for them."""
    operation = document["paths"][path][method.lower()]
    status = str(response.status_code)
    declared = operation["responses"].get(status) or operation["responses"]["default"]
    content = declared.get("content")
    if content is None:
        assert response.get_data() == b"", f"{method} {path} {status} documents no body"
        return
    assert response.mimetype in content, (method, path, status, response.mimetype, list(content))
    schema = content[response.mimetype]["schema"]
    if response.mimetype.endswith("json"):
        validator = Draft202012Validator({**schema, "components": document["components"]})
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(response.json)
        ]
        assert errors == [], (method, path, status)


def _call(
    client: FlaskClient,
    document: dict[str, Any],
    method: str,
    path: str,
    account: Account | None = None,
    **kw: Any,
) -> TestResponse:
    """Send a request to a documented path template filled from kw["ids"], check it, return it."""
    ids = kw.pop("ids", {})
    url = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
    headers = {**(account.headers if account else {}), **kw.pop("headers", {})}
    response = client.open(url, method=method, headers=headers, **kw)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert_documented(document, method, path, response)
    return response


def test_every_list_answer_matches_the_document(
    client: FlaskClient, document: dict[str, Any], shop: Shop, buyer: Buyer
) -> None:
    # Given a catalog with a sub-category, a product without category, a review, a paid order, an address
    tents = shop.category("Tents")
    shop.category("Domes", parent_id=tents["id"])
    tent = shop.product(tents["id"], "Dome tent", price_cents=15_000)
    card = shop.product(None, "Gift card", price_cents=2_500)
    shop.client.post(
        "/api/admin/vouchers",
        json={"code": "TEN", "kind": "percent", "percent_off": 10},
        headers=shop.headers,
    )
    customer = buyer.account
    ids = {"product_id": tent["id"], "category_id": tents["id"]}
    assert (
        client.post(
            f"{PRODUCTS}/{tent['id']}/reviews", json={"rating": 5}, headers=customer.headers
        ).status_code
        == 201
    )
    order = buyer.buy(tent["id"], quantity=1)
    assert buyer.pay(order["id"]).status_code == 200
    buyer.buy(card["id"])
    assert (
        client.post(
            "/api/auth/me/addresses", json={**ADDRESS, "country": "US"}, headers=customer.headers
        ).status_code
        == 201
    )

    public = [
        ("/api/products", {}),
        ("/api/products", {"query_string": {"q": "tent", "limit": 1}}),
        ("/api/products", {"query_string": {"page": 1, "per_page": 1}}),
        ("/api/products/{product_id}", {}),
        ("/api/products/{product_id}/reviews", {}),
        ("/api/products/{product_id}/recommendations", {}),
        ("/api/categories", {}),
        ("/api/categories/{category_id}/products", {}),
        ("/api/categories/{category_id}/products", {"query_string": {"page": 2, "per_page": 5}}),
        ("/api/health", {}),
        ("/api/docs", {}),
        ("/api/problems", {}),
    ]
    for path, kw in public:
        _call(client, document, "GET", path, ids=ids, **kw)
    for path in ("/api/auth/me", "/api/auth/me/addresses", "/api/cart", "/api/orders"):
        _call(client, document, "GET", path, customer)
    _call(client, document, "GET", "/api/orders/{order_id}", customer, ids={"order_id": order["id"]})
    for path in ("/api/admin/users", "/api/admin/inventory", "/api/admin/orders", "/api/admin/vouchers"):
        for query in ({}, {"limit": 1}):
            _call(client, document, "GET", path, shop.admin, query_string=query)


def test_a_conditional_list_answer_matches_the_document(
    client: FlaskClient, document: dict[str, Any], shop: Shop
) -> None:
    shop.product(shop.category("Tents")["id"])
    first = _call(client, document, "GET", "/api/products")

    again = _call(client, document, "GET", "/api/products", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert again.headers["ETag"] == first.headers["ETag"]


def test_errors_and_writes_match_the_document(
    client: FlaskClient, document: dict[str, Any], shop: Shop, buyer: Buyer
) -> None:
    category = shop.category("Tents")
    product = shop.product(category["id"], stock_quantity=1)
    ids = {"product_id": product["id"], "category_id": category["id"], "item_id": 999_999}

    checks = [
        ("GET", "/api/products/{product_id}", None, {"ids": {"product_id": 999_999}}, 404),
        ("GET", "/api/products", None, {"query_string": {"limit": 0}}, 422),
        ("GET", "/api/cart", None, {}, 401),
        ("GET", "/api/admin/users", buyer.account, {}, 403),
        (
            "POST",
            "/api/cart/items",
            buyer.account,
            {"json": {"product_id": product["id"], "quantity": 5}},
            409,
        ),
        (
            "POST",
            "/api/cart/items",
            buyer.account,
            {"json": {"product_id": product["id"], "quantity": 1}},
            201,
        ),
        ("DELETE", "/api/cart/items/{item_id}", buyer.account, {}, 404),
        ("PATCH", "/api/products/{product_id}", shop.admin, {"json": {"category_id": None}}, 200),
        ("DELETE", "/api/categories/{category_id}", shop.admin, {}, 204),
        ("POST", "/api/auth/password-reset", None, {"json": {"email": "nobody@example.com"}}, 202),
    ]
    for method, path, account, kw, status in checks:
        response = _call(client, document, method, path, account, **{"ids": ids, **kw})
        assert response.status_code == status, (method, path, response.get_data(as_text=True))
