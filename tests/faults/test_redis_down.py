"""Redis down: the API keeps serving. Tokens are checked against the revocation list's database copy,
rate limits count in process memory, a revocation fails cleanly (503) until Redis is back, and the
Celery worker picks the outbox up again once it returns, losing nothing."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright import outbox
from shopwright.accounts.tokens import PASSWORD_RESET_ISSUED
from shopwright.outbox import Event
from tests.conftest import REDIS_RUN_PREFIX
from tests.factories import assert_problem, bearer, customer, login
from tests.factories.catalog import Shop
from tests.support.outages import without_hanging
from tests.support.servers import RedisServer, celery_worker

pytestmark = [pytest.mark.postgres_only, pytest.mark.redis]


def test_the_api_keeps_serving_while_redis_is_down(
    make_app: Callable[..., Flask], redis_server: RedisServer, shop: Shop
) -> None:
    # Given a customer signed in twice, one of those sessions logged out while Redis was up
    app = make_app(REDIS_URL=redis_server.url, RATE_LIMIT_ENABLED=True, RATE_LIMIT_AUTH="5/minute")
    client = app.test_client()
    product = shop.product(shop.category()["id"], stock_quantity=3)
    account = customer(client)
    other = login(client, account.email)["access_token"]
    assert client.post("/api/auth/logout", headers=bearer(other)).status_code == 200

    # When Redis goes down
    redis_server.stop()

    # Then the customer can still shop and check out
    headers = account.headers
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    added = client.post("/api/cart/items", json={"product_id": product["id"]}, headers=headers)
    assert added.status_code == 201, added.json
    ordered = client.post("/api/orders", json={"delivery_address": "1 Main Street"}, headers=headers)
    assert ordered.status_code == 201, ordered.json
    # And the logged-out session stays refused: the revocation list's database copy knows it
    assert_problem(client.get("/api/auth/me", headers=bearer(other)), 401, "unauthorized")
    # And a new revocation fails cleanly, changing nothing (Redis would not have it once back)
    assert_problem(client.post("/api/auth/logout", headers=headers), 503, "service_unavailable")
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    # And logins are still limited, counted in this process's memory
    wrong = {"email": account.email, "password": "Wrong-pass-1"}
    statuses = [client.post("/api/auth/login", json=wrong).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # And the health check says so, without taking the app host out of a balancer's rotation
    health = client.get("/api/health")
    assert (health.status_code, health.json) == (
        200,
        {"status": "degraded", "database": "ok", "redis": "unavailable"},
    )

    # When Redis is back
    redis_server.start()

    # Then revocations work again, and the earlier one is still there
    assert client.get("/api/health").json == {"status": "ok", "database": "ok", "redis": "ok"}
    assert client.post("/api/auth/logout", headers=headers).status_code == 200
    assert_problem(client.get("/api/auth/me", headers=headers), 401, "unauthorized")
    assert_problem(client.get("/api/auth/me", headers=bearer(other)), 401, "unauthorized")


def test_a_redis_host_that_never_answers_costs_requests_only_the_redis_timeout(
    make_app: Callable[..., Flask],
) -> None:
    # Given a "Redis" that accepts connections and never answers (a hung host or a dead proxy)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        app = make_app(REDIS_URL=url, REDIS_TIMEOUT_SECONDS=0.5, RATE_LIMIT_ENABLED=True)
        client = app.test_client()
        account = customer(client)  # with rate limits on: login asks Redis for its counters too

        # When the customer's token is checked (the revocation list is in Redis)
        response, seconds = without_hanging(
            lambda: client.get("/api/auth/me", headers=account.headers), timeout=15, on_timeout=silent.close
        )

    # Then it is checked against the database copy once REDIS_TIMEOUT_SECONDS passed, not never
    assert response.status_code == 200, response.json
    assert seconds < 3.0


def _publish_reset(sessions: sessionmaker[Session], email: str) -> None:
    """Commit a password-reset email event as the reset use case does, leaving its delivery to the worker."""
    payload = {
        "email": email,
        "full_name": None,
        "reset_url": f"https://shop.example/reset?token=t-{email}",
        "token": f"t-{email}",
        "expires_at": "2030-01-01T00:00:00+00:00",
    }
    with sessions() as session, session.begin():
        outbox.publish(session, PASSWORD_RESET_ISSUED, payload)


def _attempts(sessions: sessionmaker[Session]) -> list[tuple[int, bool]]:
    """Return (attempts, delivered) of every event, oldest first."""
    with sessions() as session:
        rows = session.execute(select(Event.attempts, Event.delivered_at).order_by(Event.id)).all()
    return [(attempts, delivered_at is not None) for attempts, delivered_at in rows]


def _wait_until(
    what: str, condition: Callable[[], bool], worker: subprocess.Popen[bytes], log: Path
) -> float:
    """Wait up to 30 s for `condition`; return how long it took."""
    started = time.monotonic()
    while not condition():
        if worker.poll() is not None:
            pytest.fail(f"the worker exited ({worker.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() - started > 30:
            pytest.fail(f"no {what} within 30 s; worker output:\n{log.read_text()}")
        time.sleep(0.2)
    return time.monotonic() - started


def test_celery_resumes_when_redis_returns_and_no_outbox_event_is_lost(
    redis_server: RedisServer,
    postgresql_url: str,
    committed_db: Engine,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    emails = tmp_path / "outbox"
    settings = {
        "DATABASE_URL": postgresql_url,
        "REDIS_URL": redis_server.url,
        "REDIS_KEY_PREFIX": f"{REDIS_RUN_PREFIX}-celery-fault",
        "EMAIL_BACKEND": "file",
        "EMAIL_OUTBOX_DIR": str(emails),
    }
    with celery_worker(tmp_path, settings) as (worker, log):
        # Given a worker that delivers the outbox on beat, through our Redis
        _publish_reset(sessions, "before@example.com")
        _wait_until("first delivery", lambda: _attempts(sessions) == [(1, True)], worker, log)

        # When Redis goes down and three more emails are committed meanwhile
        redis_server.stop()
        for n in range(3):
            _publish_reset(sessions, f"during{n}@example.com")
        time.sleep(2)  # two beats that could not be sent
        # Then they wait in the outbox, untouched, and the worker keeps running
        assert _attempts(sessions) == [(1, True)] + [(0, False)] * 3
        assert worker.poll() is None

        # When Redis is back
        redis_server.start()

        # Then the worker delivers each of them, once
        _wait_until(
            "deliveries after the outage", lambda: all(d for _, d in _attempts(sessions)), worker, log
        )
    assert _attempts(sessions) == [(1, True)] * 4
    sent = sorted(path.read_text().split("To: ", 1)[1].split("\n", 1)[0] for path in emails.glob("*.eml"))
    assert sent == ["before@example.com"] + [f"during{n}@example.com" for n in range(3)]
