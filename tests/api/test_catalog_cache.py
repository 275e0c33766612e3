"""The catalog cache (catalog/cache.py): anonymous catalog reads answered from memory, identical to a fresh
answer, dropped by every kind of catalog write once it commits, bypassed with a token or without Redis.

On PostgreSQL the version lives in Redis (as in production); on SQLite it is the process's own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event
from werkzeug.test import TestResponse

from shopwright.catalog.cache import CatalogCache
from tests.conftest import REDIS_RUN_PREFIX
from tests.factories import customer
from tests.factories.catalog import CATEGORIES, PRODUCTS, Shop, set_reserved


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(CATALOG_CACHE_ENABLED=True)


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Cached")


@pytest.fixture
def product(shop: Shop, category: dict[str, Any]) -> dict[str, Any]:
    return shop.product(category["id"], price_cents=1500, stock_quantity=5)


class Statements:
    """Counts the SQL statements the app's engines send (writes and catalog reads)."""

    def __init__(self, app: Flask, committed_db: Engine) -> None:
        reads: Engine = app.extensions["shopwright.read_sessions"].kw["bind"]
        self.engines = list({committed_db, reads})
        self.sent = 0

    def _count(self, *_args: Any) -> None:
        self.sent += 1

    def reading(self, client: FlaskClient, url: str, **headers: str) -> tuple[int, TestResponse]:
        """Read `url`; return how many statements the read sent and its response."""
        answers: list[TestResponse] = []
        sent = self.during(lambda: answers.append(read(client, url, **headers)))
        return sent, answers[0]

    def during(self, action: Callable[[], Any]) -> int:
        self.sent = 0
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._count)
        try:
            action()
        finally:
            for engine in self.engines:
                event.remove(engine, "before_cursor_execute", self._count)
        return self.sent


@pytest.fixture
def statements(app: Flask, committed_db: Engine) -> Statements:
    return Statements(app, committed_db)


def cache_of(app: Flask) -> CatalogCache:
    cache: CatalogCache = app.extensions["shopwright.catalog_cache"]
    return cache


def read(client: FlaskClient, url: str, **headers: str) -> TestResponse:
    response = client.get(url, headers=headers)
    assert response.status_code in (200, 304), response.json
    return response


def reads_of(product: dict[str, Any], category: dict[str, Any]) -> list[str]:
    return [
        PRODUCTS,
        f"{PRODUCTS}?limit=20&sort=newest",
        f"{PRODUCTS}?page=1&per_page=10",
        f"{PRODUCTS}/{product['id']}",
        CATEGORIES,
        f"{CATEGORIES}/{category['id']}/products",
    ]


# --- hits ----------------------------------------------------------------------------------------
def test_a_hit_answers_the_same_bytes_and_headers_with_no_sql(
    client: FlaskClient,
    statements: Statements,
    product: dict[str, Any],
    category: dict[str, Any],
) -> None:
    for url in reads_of(product, category):
        first = read(client, url)
        sent, hit = statements.reading(client, url)
        assert sent == 0, url
        assert hit.data == first.data, url
        assert hit.headers["ETag"] == first.headers["ETag"], url
        assert hit.headers["Cache-Control"] == "public, max-age=5", url
        assert hit.mimetype == "application/json"


def test_if_none_match_gets_304_from_the_cache(
    client: FlaskClient, statements: Statements, product: dict[str, Any], category: dict[str, Any]
) -> None:
    for url in reads_of(product, category):
        etag = read(client, url).headers["ETag"]
        sent, answer = statements.reading(client, url, **{"If-None-Match": etag})
        assert sent == 0, url
        assert answer.status_code == 304, url
        assert answer.data == b""
        assert answer.headers["ETag"] == etag


def test_equivalent_queries_share_one_entry(
    app: Flask, client: FlaskClient, statements: Statements, product: dict[str, Any]
) -> None:
    first = read(client, f"{PRODUCTS}?limit=20&sort=newest")
    for same in (f"{PRODUCTS}?sort=newest&limit=20", f"{PRODUCTS}?limit=20", PRODUCTS):
        sent, answer = statements.reading(client, same)
        assert sent == 0, same
        assert answer.data == first.data
    assert statements.during(lambda: read(client, f"{PRODUCTS}?limit=19")) > 0  # another question


def test_a_request_with_a_token_is_answered_fresh_and_private(
    client: FlaskClient, statements: Statements, product: dict[str, Any]
) -> None:
    buyer = customer(client)
    url = f"{PRODUCTS}/{product['id']}"
    anonymous = read(client, url)

    sent, answer = statements.reading(client, url, **buyer.headers)
    assert sent > 0
    assert answer.data == anonymous.data  # the same answer, built again
    assert answer.headers["Cache-Control"] == "private, no-cache"
    assert answer.headers["ETag"] == anonymous.headers["ETag"]


def test_not_found_is_not_kept(client: FlaskClient, statements: Statements, product: dict[str, Any]) -> None:
    assert client.get(f"{PRODUCTS}/999999").status_code == 404
    assert statements.during(lambda: client.get(f"{PRODUCTS}/999999")) > 0


# --- every kind of write makes the next read fresh ----------------------------------------------
def detail(client: FlaskClient, product_id: int) -> dict[str, Any]:
    body: dict[str, Any] = read(client, f"{PRODUCTS}/{product_id}").json  # type: ignore[assignment]
    return body


def listed(client: FlaskClient, url: str = PRODUCTS) -> dict[int, dict[str, Any]]:
    return {item["id"]: item for item in read(client, url).json["items"]}  # type: ignore[index]


def tree(client: FlaskClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = read(client, CATEGORIES).json["items"]  # type: ignore[index]
    return items


def test_creating_a_product_shows_in_the_next_list(
    shop: Shop, client: FlaskClient, product: dict[str, Any], category: dict[str, Any]
) -> None:
    assert set(listed(client)) == {product["id"]}
    url = f"{CATEGORIES}/{category['id']}/products"
    assert set(listed(client, url)) == {product["id"]}
    added = shop.product(category["id"])
    assert set(listed(client)) == {product["id"], added["id"]}
    assert set(listed(client, url)) == {product["id"], added["id"]}


def test_a_price_change_shows_at_once(shop: Shop, client: FlaskClient, product: dict[str, Any]) -> None:
    assert listed(client)[product["id"]]["price_cents"] == 1500
    assert detail(client, product["id"])["price_cents"] == 1500
    shop.update(product["id"], price_cents=999)
    assert listed(client)[product["id"]]["price_cents"] == 999
    assert detail(client, product["id"])["price_cents"] == 999


def test_hiding_and_deleting_a_product_show_at_once(
    shop: Shop, client: FlaskClient, product: dict[str, Any], category: dict[str, Any]
) -> None:
    other = shop.product(category["id"])
    assert set(listed(client)) == {product["id"], other["id"]}
    shop.hide(product["id"])
    assert set(listed(client)) == {other["id"]}
    assert client.get(f"{PRODUCTS}/{product['id']}").status_code == 404
    detail(client, other["id"])
    shop.delete(other["id"])
    assert listed(client) == {}
    assert client.get(f"{PRODUCTS}/{other['id']}").status_code == 404


def test_variant_writes_show_at_once(shop: Shop, client: FlaskClient, product: dict[str, Any]) -> None:
    assert len(detail(client, product["id"])["variants"]) == 1
    variant = shop.add_variant(product["id"], price_cents=700, stock_quantity=2)
    shown = detail(client, product["id"])
    assert [v["id"] for v in shown["variants"]] == [product["variants"][0]["id"], variant["id"]]
    assert shown["price_cents"] == 700
    response = client.patch(
        f"{PRODUCTS}/{product['id']}/variants/{variant['id']}",
        json={"price_cents": 650, "stock_quantity": 0},
        headers=shop.headers,
    )
    assert response.status_code == 200, response.json
    shown = detail(client, product["id"])
    assert shown["price_cents"] == 650
    assert shown["variants"][1]["available"] == 0


def test_admin_stock_changes_show_at_once(shop: Shop, client: FlaskClient, product: dict[str, Any]) -> None:
    variant_id = product["variants"][0]["id"]
    assert detail(client, product["id"])["in_stock"] is True
    assert set(listed(client, f"{PRODUCTS}?in_stock=true")) == {product["id"]}
    response = client.put(f"/api/admin/inventory/{variant_id}", json={"quantity": 0}, headers=shop.headers)
    assert response.status_code == 200, response.json
    assert detail(client, product["id"])["in_stock"] is False
    assert listed(client, f"{PRODUCTS}?in_stock=true") == {}
    response = client.put(f"/api/admin/inventory/{variant_id}", json={"delta": 4}, headers=shop.headers)
    assert response.status_code == 200, response.json
    assert detail(client, product["id"])["variants"][0]["available"] == 4
    assert set(listed(client, f"{PRODUCTS}?in_stock=true")) == {product["id"]}


def test_category_writes_show_at_once(shop: Shop, client: FlaskClient, category: dict[str, Any]) -> None:
    assert [node["name"] for node in tree(client)] == ["Cached"]
    child = shop.category("Child", parent_id=category["id"])
    assert [child["id"]] == [node["id"] for node in tree(client)[0]["children"]]
    response = client.patch(f"{CATEGORIES}/{child['id']}", json={"parent_id": None}, headers=shop.headers)
    assert response.status_code == 200, response.json
    assert sorted(node["name"] for node in tree(client)) == ["Cached", "Child"]
    response = client.patch(f"{CATEGORIES}/{child['id']}", json={"name": "Renamed"}, headers=shop.headers)
    assert response.status_code == 200, response.json
    assert sorted(node["name"] for node in tree(client)) == ["Cached", "Renamed"]
    assert client.delete(f"{CATEGORIES}/{child['id']}", headers=shop.headers).status_code == 204
    assert [node["name"] for node in tree(client)] == ["Cached"]


def test_a_product_moved_to_another_category_shows_at_once(
    shop: Shop, client: FlaskClient, product: dict[str, Any], category: dict[str, Any]
) -> None:
    other = shop.category("Other")
    assert detail(client, product["id"])["category"]["id"] == category["id"]
    assert set(listed(client, f"{CATEGORIES}/{other['id']}/products")) == set()
    shop.update(product["id"], category_id=other["id"])
    assert detail(client, product["id"])["category"]["id"] == other["id"]
    assert set(listed(client, f"{CATEGORIES}/{other['id']}/products")) == {product["id"]}


def test_a_review_shows_its_rating_at_once(client: FlaskClient, product: dict[str, Any]) -> None:
    assert detail(client, product["id"])["rating_count"] == 0
    buyer = customer(client)
    response = client.post(
        f"{PRODUCTS}/{product['id']}/reviews", json={"rating": 4, "title": "Good"}, headers=buyer.headers
    )
    assert response.status_code == 201, response.json
    shown = detail(client, product["id"])
    assert (shown["rating_count"], shown["rating_avg"]) == (1, 4.0)


def test_a_failed_write_keeps_the_cache(
    shop: Shop, client: FlaskClient, statements: Statements, product: dict[str, Any]
) -> None:
    detail(client, product["id"])
    response = client.patch(f"{PRODUCTS}/{product['id']}", json={"category_id": 999999}, headers=shop.headers)
    assert response.status_code in (404, 422), response.json
    assert statements.during(lambda: detail(client, product["id"])) == 0  # rolled back: nothing to drop


# --- bounds and failures ----------------------------------------------------------------------------
def test_customer_stock_moves_show_within_the_ttl(
    make_app: Callable[..., Flask], committed_db: Engine, product: dict[str, Any]
) -> None:
    app = make_app(CATALOG_CACHE_ENABLED=True, CATALOG_CACHE_SECONDS=1)
    client = app.test_client()
    sessions = app.extensions["shopwright.sessions"]
    assert detail(client, product["id"])["variants"][0]["available"] == 5
    set_reserved(sessions, product["variants"][0]["id"], 2)  # a cart's reservation: no bump
    assert detail(client, product["id"])["variants"][0]["available"] == 5  # stale, within the bound
    time.sleep(1.1)
    assert detail(client, product["id"])["variants"][0]["available"] == 3


def test_the_cache_keeps_at_most_its_entries(
    make_app: Callable[..., Flask], committed_db: Engine, product: dict[str, Any]
) -> None:
    app = make_app(CATALOG_CACHE_ENABLED=True, CATALOG_CACHE_ENTRIES=3)
    client, statements = app.test_client(), Statements(app, committed_db)
    for limit in range(1, 6):
        read(client, f"{PRODUCTS}?limit={limit}")
    assert len(cache_of(app)) == 3
    assert statements.during(lambda: read(client, f"{PRODUCTS}?limit=5")) == 0  # recent: kept
    assert statements.during(lambda: read(client, f"{PRODUCTS}?limit=1")) > 0  # oldest: evicted


def test_redis_down_bypasses_the_cache_and_answers_fresh(
    app: Flask, client: FlaskClient, shop: Shop, statements: Statements, product: dict[str, Any]
) -> None:
    cache = cache_of(app)
    cache.client = redis.Redis(port=1, socket_connect_timeout=0.2)  # nothing listens there
    url = f"{PRODUCTS}/{product['id']}"
    first = read(client, url)
    assert first.headers["ETag"]
    assert statements.during(lambda: read(client, url)) > 0  # no cache without a version
    shop.update(product["id"], price_cents=1234)  # the write succeeds though its bump cannot be sent
    assert detail(client, product["id"])["price_cents"] == 1234
    assert len(cache) == 0


def test_without_the_cache_answers_carry_no_cache_control(
    make_app: Callable[..., Flask], product: dict[str, Any]
) -> None:
    client = make_app().test_client()
    response = read(client, f"{PRODUCTS}/{product['id']}")
    assert "Cache-Control" not in response.headers
    assert response.headers["ETag"]


# --- two app hosts share the version through Redis ------------------------------------------------
@pytest.fixture
def shared_prefix() -> str:
    return f"{REDIS_RUN_PREFIX}-shared-catalog"


def _two_hosts(make_app: Callable[..., Flask], redis_url: str, prefix: str, *, poll_ms: int) -> list[Flask]:
    """Two app hosts with the cache on, sharing one Redis prefix (so one catalog version)."""
    settings = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": prefix, "CATALOG_CACHE_VERSION_POLL_MS": poll_ms}
    return [make_app(CATALOG_CACHE_ENABLED=True, **settings) for _ in range(2)]


def test_a_write_on_one_host_is_seen_by_the_other(
    make_app: Callable[..., Flask], redis_url: str, shared_prefix: str, committed_db: Engine
) -> None:
    hosts = _two_hosts(make_app, redis_url, shared_prefix, poll_ms=0)
    a, b = (host.test_client() for host in hosts)
    shop = Shop(hosts[0], a)
    product = shop.product(shop.category()["id"], price_cents=1500)
    statements = Statements(hosts[1], committed_db)
    assert detail(b, product["id"])["price_cents"] == 1500
    assert statements.during(lambda: detail(b, product["id"])) == 0  # B answers from its cache
    shop.update(product["id"], price_cents=800)  # through A
    assert detail(b, product["id"])["price_cents"] == 800


def test_with_a_poll_interval_the_other_host_sees_a_write_within_it(
    make_app: Callable[..., Flask], redis_url: str, shared_prefix: str, committed_db: Engine
) -> None:
    hosts = _two_hosts(make_app, redis_url, shared_prefix, poll_ms=200)
    a, b = (host.test_client() for host in hosts)
    shop = Shop(hosts[0], a)
    product = shop.product(shop.category()["id"], price_cents=1500)
    assert detail(b, product["id"])["price_cents"] == 1500
    shop.update(product["id"], price_cents=800)
    assert detail(a, product["id"])["price_cents"] == 800  # the writing worker knows at once
    time.sleep(0.25)
    assert detail(b, product["id"])["price_cents"] == 800
