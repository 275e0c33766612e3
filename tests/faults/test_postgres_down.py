"""PostgreSQL restarted, stuck or unreachable: requests answer 503 problem+json instead of 500s or hangs,
no order is left half-written, and the service is back as soon as the database is."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopwright import create_app
from shopwright.accounts.seed import ensure_admin
from tests.conftest import REDIS_RUN_PREFIX, Mailbox, make_settings
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop, stock_of
from tests.support.outages import assert_orders_whole_and_stock_agrees, without_hanging
from tests.support.servers import LiveServer, PostgresCluster, serve

pytestmark = [pytest.mark.postgres_only, pytest.mark.redis]
PASSWORD = "Fault-pass-1"
STOCK = 1000
PROBLEM = "application/problem+json"


@dataclass(frozen=True)
class Answer:
    """One request of the load and how it ended."""

    kind: str  # add, checkout or read
    started: float
    ended: float
    status: int
    media_type: str
    code: str | None


def _send(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Answer:
    request = urllib.request.Request(
        base_url + path, data=json.dumps(body).encode() if body is not None else None, method=method
    )
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    kind = {"/api/cart/items": "add", "/api/orders": "checkout"}.get(path, "read")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, media_type, raw = response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as error:
        status, media_type, raw = error.code, error.headers.get_content_type(), error.read()
    code = json.loads(raw).get("code") if status >= 400 else None
    return Answer(kind, started, time.monotonic(), status, media_type, code)


def _arrange(server: LiveServer, sessions: sessionmaker[Session], buyers: int) -> tuple[int, int, list[str]]:
    """Create a stocked product and log in `buyers` customers; return product id, variant id, tokens."""
    with sessions() as session:
        ensure_admin(session, "ops@example.com", PASSWORD)
    admin = server.login("ops@example.com", PASSWORD)
    status, category = server.request("POST", "/api/categories", {"name": "Lamps"}, token=admin)
    assert status == 201, category
    body = {
        "name": "Lamp",
        "category_id": category["id"],
        "sku": "LAMP-1",
        "price_cents": 2_500,
        "stock_quantity": STOCK,
    }
    status, product = server.request("POST", "/api/products", body, token=admin)
    assert status == 201, product
    tokens = []
    for n in range(buyers):
        email = f"buyer{n}@example.com"
        assert server.request("POST", "/api/auth/register", {"email": email, "password": PASSWORD})[0] == 201
        tokens.append(server.login(email, PASSWORD))
    return product["id"], product["variants"][0]["id"], tokens


@pytest.fixture
def server(
    fault_database: str, redis_url: str, smtp_server: tuple[str, int, Mailbox]
) -> Iterator[LiveServer]:
    """gunicorn (2 worker processes) on the throwaway cluster's database."""
    settings = {
        "REDIS_KEY_PREFIX": f"{REDIS_RUN_PREFIX}-faults",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        "LOG_LEVEL": "CRITICAL",  # each 503 logs an error line, by design: not into the test output
    }
    with serve(fault_database, redis_url, smtp_server, workers=2, settings=settings) as live:
        yield live


def test_a_restart_under_load_fails_requests_in_flight_cleanly_and_the_service_comes_back(
    pg_cluster: PostgresCluster, server: LiveServer, fault_sessions: sessionmaker[Session]
) -> None:
    # Given six customers checking out one unit after another and two browsing the catalog
    product_id, variant_id, tokens = _arrange(server, fault_sessions, buyers=6)
    answers: list[Answer] = []
    stop = threading.Event()

    def shop(token: str) -> None:
        while not stop.is_set():
            answers.append(
                _send(server.base_url, "POST", "/api/cart/items", {"product_id": product_id}, token)
            )
            body = {"delivery_address": "1 Main Street, Springfield"}
            answers.append(_send(server.base_url, "POST", "/api/orders", body, token))

    def browse() -> None:
        while not stop.is_set():
            answers.append(_send(server.base_url, "GET", "/api/products?limit=5"))

    workers = [threading.Thread(target=shop, args=(token,)) for token in tokens]
    workers += [threading.Thread(target=browse) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        # When PostgreSQL restarts under that load (fast shutdown: its sessions are cut off)
        time.sleep(1.0)
        pg_cluster.restart()
        back = time.monotonic()
        time.sleep(2.0)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=60)

    # Then requests in flight failed with 503 problem+json: no 500, no other body, and none hung
    failed = [a for a in answers if a.status >= 500]
    assert failed, "the restart failed no request: the test did not exercise the fault"
    assert {(a.status, a.media_type, a.code) for a in failed} == {(503, PROBLEM, "service_unavailable")}
    assert max(a.ended - a.started for a in answers) < 3.0
    expected = {
        ("add", 201, None),
        ("checkout", 201, None),
        ("checkout", 422, "cart_empty"),
        ("read", 200, None),
    }
    assert {(a.kind, a.status, a.code) for a in answers if a.status < 500} <= expected
    # And every request sent once the database was back succeeded (pooled connections to the old
    # server were replaced, not handed out to fail), well within 5 s
    after = [a for a in answers if a.started >= back]
    assert len(after) > 20
    assert [a for a in after if a.status >= 500] == []
    # And no order is half-written: each is whole, and stock agrees with orders and carts
    fault_sessions.kw["bind"].dispose()  # this test's own connections predate the restart
    orders, sold = assert_orders_whole_and_stock_agrees(fault_sessions, variant_id, STOCK)
    assert orders >= sum(1 for a in answers if a.kind == "checkout" and a.status == 201)
    assert sold >= orders  # one unit each, or two after a failed checkout left the cart with one


def test_after_a_restart_while_idle_no_request_fails_on_a_connection_to_the_old_server(
    pg_cluster: PostgresCluster, server: LiveServer, fault_sessions: sessionmaker[Session]
) -> None:
    # Given both worker processes holding pooled connections (catalog reads and cart reads)
    _, _, [token] = _arrange(server, fault_sessions, buyers=1)

    def burst() -> list[Answer]:
        paths = ["/api/products", "/api/cart"] * 12
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda path: _send(server.base_url, "GET", path, token=token), paths))

    assert {a.status for a in burst()} == {200}
    # When PostgreSQL restarts while nobody is asking
    pg_cluster.restart()
    # Then no request is handed a connection to the server that went away
    assert [(a.kind, a.status) for a in burst() if a.status != 200] == []


@pytest.fixture
def slow_app(postgresql_url: str, committed_db: Engine) -> Iterator[Flask]:
    """An app on the test database whose statements are cancelled after 1 s (its own engines)."""
    app = create_app(make_settings(postgresql_url, DATABASE_STATEMENT_TIMEOUT_SECONDS=1))
    yield app
    for key in ("shopwright.sessions", "shopwright.read_sessions"):
        app.extensions[key].kw["bind"].dispose()


def test_a_statement_stuck_behind_a_lock_answers_503_when_the_statement_timeout_passes(
    slow_app: Flask, shop: Shop, postgresql_url: str, sessions: sessionmaker[Session]
) -> None:
    # Given a product whose stock row another transaction holds locked (a long admin job, a stuck client)
    product = shop.product(shop.category()["id"], stock_quantity=5)
    variant_id = product["variants"][0]["id"]
    client: FlaskClient = slow_app.test_client()
    account = customer(client)
    blocker = psycopg.connect(postgresql_url.replace("+psycopg", ""))
    blocker.execute("SELECT 1 FROM inventory WHERE variant_id = %s FOR UPDATE", (variant_id,))
    try:
        # When a customer adds it to their cart
        response, seconds = without_hanging(
            lambda: client.post(
                "/api/cart/items", json={"product_id": product["id"]}, headers=account.headers
            ),
            timeout=10,
            on_timeout=blocker.rollback,
        )
    finally:
        blocker.rollback()
        blocker.close()

    # Then PostgreSQL cancels the waiting statement after DATABASE_STATEMENT_TIMEOUT_SECONDS: a clean 503
    assert_problem(response, 503, "service_unavailable")
    assert 1.0 <= seconds < 5.0
    # And nothing was reserved
    assert stock_of(sessions, variant_id) == (5, 0)
    assert client.get("/api/cart", headers=account.headers).json["items"] == []  # type: ignore[index]


def test_a_database_host_that_never_answers_gets_503_after_the_connect_timeout() -> None:
    # Given a "database" that accepts TCP connections and never says a word (a hung host or proxy)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/shop"
        app = create_app(make_settings(url, DATABASE_CONNECT_TIMEOUT_SECONDS=2))
        client = app.test_client()
        try:
            # When a catalog read and a login need a connection
            for method, path, body in (
                ("GET", "/api/categories", None),
                ("POST", "/api/auth/login", {"email": "x@example.com", "password": PASSWORD}),
            ):
                response, seconds = without_hanging(
                    lambda m=method, p=path, b=body: client.open(p, method=m, json=b),  # type: ignore[misc]
                    timeout=15,
                    on_timeout=silent.close,
                )
                # Then each gives up after the connect timeout with a 503, instead of hanging
                assert_problem(response, 503, "service_unavailable")
                assert seconds < 7.0, (path, seconds)
        finally:
            for key in ("shopwright.sessions", "shopwright.read_sessions"):
                app.extensions[key].kw["bind"].dispose()


def test_catalog_reads_fall_back_to_the_primary_while_the_replica_is_down(
    pg_cluster: PostgresCluster, fault_database: str, postgresql_url: str, shop: Shop
) -> None:
    # Given reads routed to a "replica" (our own cluster, whose catalog is empty) and a product on the
    # primary (the test database): which server answered shows in the list
    shop.product(shop.category()["id"], name="Only on the primary")
    settings = make_settings(
        postgresql_url, DATABASE_READ_URL=fault_database, DATABASE_READ_FALLBACK_SECONDS=1
    )
    app = create_app(settings)
    client = app.test_client()

    def names() -> list[str]:
        response = client.get("/api/products")
        assert response.status_code == 200, response.json
        return [item["name"] for item in response.json["items"]]  # type: ignore[index]

    try:
        assert names() == []  # from the replica
        # When the replica stops
        pg_cluster.stop()
        # Then catalog reads are answered by the primary, none failing
        assert [names() for _ in range(5)] == [["Only on the primary"]] * 5
        # And once the replica is back, reads return to it within DATABASE_READ_FALLBACK_SECONDS (+ slack)
        pg_cluster.start()
        back = time.monotonic()
        while names() != [] and time.monotonic() - back < 5:
            time.sleep(0.1)
        assert names() == []
        assert time.monotonic() - back < 2.5
    finally:
        pg_cluster.ensure_running()
        for key in ("shopwright.sessions", "shopwright.read_sessions"):
            app.extensions[key].kw["bind"].dispose()
