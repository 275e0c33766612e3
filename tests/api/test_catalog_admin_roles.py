"""The role matrix of every catalog write: anonymous 401, customer 403, admin allowed; bad tokens 401;
unknown ids 404 for admins only. A refused request never changes anything."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, bearer, customer, signed_token
from tests.factories.catalog import CATEGORIES, PRODUCTS, Shop, counts, empty_catalog, unique_sku


@dataclass
class World:
    shop: Shop
    category: dict[str, Any]
    empty_category: dict[str, Any]
    product: dict[str, Any]
    variant: dict[str, Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # with {product}, {variant}, {category}, {empty} placeholders
    body: dict[str, Any] | None
    success: int

    def url(self, world: World, **ids: int) -> str:
        values = {
            "product": world.product["id"],
            "variant": world.variant["id"],
            "category": world.category["id"],
            "empty": world.empty_category["id"],
        }
        values.update(ids)
        return self.path.format(**values)


ROUTES = {
    "create-product": Route("post", PRODUCTS, {"name": "New", "category_id": -1, "price_cents": 5}, 201),
    "put-product": Route("put", PRODUCTS + "/{product}", {"name": "Renamed"}, 200),
    "patch-product": Route("patch", PRODUCTS + "/{product}", {"price_cents": 1}, 200),
    "delete-product": Route("delete", PRODUCTS + "/{product}", None, 204),
    "add-variant": Route("post", PRODUCTS + "/{product}/variants", {"price_cents": 7}, 201),
    "patch-variant": Route("patch", PRODUCTS + "/{product}/variants/{variant}", {"stock_quantity": 0}, 200),
    "create-category": Route("post", CATEGORIES, {"name": "Fresh"}, 201),
    "patch-category": Route("patch", CATEGORIES + "/{category}", {"description": "Changed"}, 200),
    "delete-category": Route("delete", CATEGORIES + "/{empty}", None, 204),
}


@pytest.fixture
def world(app: Flask, client: FlaskClient, sessions: sessionmaker[Session]) -> Iterator[World]:
    shop = Shop(app, client)
    category = shop.category("Laptops")
    empty = shop.category("Empty")
    product = shop.product(category["id"], stock_quantity=4)
    variant = shop.add_variant(product["id"], stock_quantity=2)
    yield World(shop, category, empty, product, variant)
    empty_catalog(sessions)


def _body(route: Route, world: World) -> dict[str, Any] | None:
    if route.body is None:
        return None
    body = dict(route.body)
    if body.get("category_id") == -1:
        body["category_id"] = world.category["id"]
    if "price_cents" in body and route.method == "post":
        body["sku"] = unique_sku("ROLE")
    return body


def _call(client: FlaskClient, route: Route, world: World, headers: dict[str, str], **ids: int) -> Any:
    body = _body(route, world)
    kwargs: dict[str, Any] = {"headers": headers} | ({"json": body} if body is not None else {})
    return getattr(client, route.method)(route.url(world, **ids), **kwargs)


def _state(client: FlaskClient, sessions: sessionmaker[Session], world: World) -> Any:
    """Everything a catalog write could change, as seen through the API and the tables."""
    detail = client.get(f"{PRODUCTS}/{world.product['id']}").json
    return counts(sessions), detail, client.get(CATEGORIES).json


def _foreign_admin_token(app: Flask, user_id: int) -> str:
    """An admin-looking token signed with a key that is not the server's."""
    return signed_token(app, user_id, "admin", secret="another-secret-key-another-secret-key!!")


def _expired_admin_token(app: Flask, user_id: int) -> str:
    return signed_token(app, user_id, "admin", expires_in=timedelta(seconds=-60))


@pytest.mark.parametrize("name", list(ROUTES))
def test_only_admins_write_the_catalog(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session], world: World, name: str
) -> None:
    route = ROUTES[name]
    before = _state(client, sessions, world)
    shopper = customer(client)
    retired = customer(client)  # logged out below: a revoked token
    client.post("/api/auth/logout", headers=retired.headers)
    refused: dict[str, tuple[dict[str, str], int, str]] = {
        "anonymous": ({}, 401, "unauthorized"),
        "garbage token": (bearer("not.a.jwt"), 401, "unauthorized"),
        "forged admin token": (bearer(_foreign_admin_token(app, world.shop.admin.id)), 401, "unauthorized"),
        "expired admin token": (bearer(_expired_admin_token(app, world.shop.admin.id)), 401, "unauthorized"),
        "refresh token": (bearer(world.shop.admin.refresh_token), 401, "unauthorized"),
        "revoked token": (retired.headers, 401, "unauthorized"),
        "customer": (shopper.headers, 403, "admin_required"),
    }

    for who, (headers, status, code) in refused.items():
        response = _call(client, route, world, headers)
        assert response.status_code == status, (who, response.json)
        assert_problem(response, status, code)
        assert _state(client, sessions, world) == before, who

    response = _call(client, route, world, world.shop.headers)
    assert response.status_code == route.success, response.json
    assert _state(client, sessions, world) != before


@pytest.mark.parametrize("name", list(ROUTES))
def test_non_admins_are_refused_before_their_body_is_read(
    client: FlaskClient, sessions: sessionmaker[Session], world: World, name: str
) -> None:
    # An invalid body does not earn a 422 (which would tell the caller about the schema) nor a 400
    route = ROUTES[name]
    before = _state(client, sessions, world)
    shopper = customer(client)
    path = route.url(world)

    for headers, status in (({}, 401), (shopper.headers, 403)):
        invalid = getattr(client, route.method)(path, json={"unknown": True}, headers=headers)
        malformed = getattr(client, route.method)(
            path, data="{not json", content_type="application/json", headers=headers
        )
        assert invalid.status_code == status, invalid.json
        if route.method != "delete":
            assert malformed.status_code in (status, 400), malformed.json
    assert _state(client, sessions, world) == before


ID_ROUTES = {name: route for name, route in ROUTES.items() if "{" in route.path}


@pytest.mark.parametrize("name", list(ID_ROUTES))
def test_unknown_ids_are_404_for_admins_and_403_for_customers(
    client: FlaskClient, sessions: sessionmaker[Session], world: World, name: str
) -> None:
    route = ID_ROUTES[name]
    before = _state(client, sessions, world)
    shopper = customer(client)
    placeholder = route.path.rsplit("{", 1)[1].rstrip("}").split("}")[0]
    expected_code = {
        "product": "product_not_found",
        "variant": "variant_not_found",
        "category": "category_not_found",
        "empty": "category_not_found",
    }[placeholder]

    for unknown in (999_999, 10**20):
        response = _call(client, route, world, world.shop.headers, **{placeholder: unknown})
        assert response.status_code == 404, (unknown, response.json)
        assert_problem(response, 404, expected_code)
        # A customer learns nothing about which ids exist
        refused = _call(client, route, world, shopper.headers, **{placeholder: unknown})
        assert_problem(refused, 403, "admin_required")
    assert _state(client, sessions, world) == before


@pytest.mark.parametrize(
    "path",
    [
        PRODUCTS,
        PRODUCTS + "/{product}",
        PRODUCTS + "/{product}/reviews",
        PRODUCTS + "/{product}/recommendations",
        CATEGORIES,
        CATEGORIES + "/{category}/products",
    ],
)
def test_catalog_reads_are_public(client: FlaskClient, world: World, path: str) -> None:
    url = path.format(product=world.product["id"], category=world.category["id"])
    shopper = customer(client)

    answers = [client.get(url, headers=headers) for headers in ({}, shopper.headers, world.shop.headers)]

    assert [response.status_code for response in answers] == [200, 200, 200]
    assert answers[0].get_data() == answers[1].get_data() == answers[2].get_data()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", PRODUCTS),
        ("put", PRODUCTS),
        ("post", PRODUCTS + "/{product}"),
        ("delete", PRODUCTS + "/{product}/variants/{variant}"),
        ("get", PRODUCTS + "/{product}/variants/{variant}"),
        ("put", CATEGORIES + "/{category}"),
        ("delete", CATEGORIES),
        ("delete", PRODUCTS + "/{product}/reviews"),
    ],
)
def test_a_wrong_method_is_405(client: FlaskClient, world: World, method: str, path: str) -> None:
    url = path.format(product=world.product["id"], variant=world.variant["id"], category=world.category["id"])

    response = getattr(client, method)(url, headers=world.shop.headers)

    assert_problem(response, 405, "method_not_allowed")
    assert "Allow" in response.headers
