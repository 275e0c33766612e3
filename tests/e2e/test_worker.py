"""Background work: a real Celery worker with beat on Redis delivers the outbox; eager without a broker."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright import outbox
from shopwright.accounts.models import RevokedToken
from shopwright.accounts.tokens import PASSWORD_RESET_ISSUED, PASSWORD_RESET_REQUESTED
from shopwright.db import utcnow
from shopwright.outbox import Event
from shopwright.worker import (
    DELIVER_EVENTS,
    EXPIRE_CARTS,
    PURGE_EVENTS,
    PURGE_REVOKED_TOKENS,
    celery_init_app,
    wake_up_key,
)
from tests.conftest import REDIS_RUN_PREFIX, Mailbox
from tests.support.servers import celery_worker

pytestmark = [pytest.mark.postgres_only, pytest.mark.redis]
# The broker gets a Redis database of its own, next to the tests' one (15); every key it writes starts
# with this run's prefix, so concurrent test runs (and real deployments on db 14) never share a queue.
BROKER_DB = 14
TIMEOUT = 30.0


def _publish_reset(sessions: sessionmaker[Session], email: str) -> int:
    """Commit a password-reset event the way the use case does, without delivering it in-process."""
    payload = {
        "email": email,
        "full_name": "Kim Worker",
        "reset_url": "https://shop.example/reset?token=t0k3n",
        "token": "t0k3n",
        "expires_at": "2030-01-01T00:00:00+00:00",
    }
    with sessions() as session, session.begin():
        outbox.publish(session, PASSWORD_RESET_ISSUED, payload)
    with sessions() as session:
        return session.scalars(select(Event.id)).one()


def _event(sessions: sessionmaker[Session], event_id: int) -> Event:
    with sessions() as session:
        event = session.get(Event, event_id)
        assert event is not None
        return event


def _wait_for(what: str, condition: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the worker exited with {process.returncode} before {what}:\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {TIMEOUT:.0f} s; worker output:\n{log.read_text()}")


def _log_events(log: Path) -> list[dict[str, Any]]:
    """Return the JSON log lines the worker wrote so far."""
    events = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:  # a line still being written
                continue
    return events


@pytest.fixture
def broker_url(redis_url: str) -> Iterator[str]:
    """A Redis database for the Celery broker; this run's keys are deleted afterwards."""
    url = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    yield url
    client = redis.Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{REDIS_RUN_PREFIX}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def worker_log(
    postgresql_url: str, committed_db: Any, redis_url: str, broker_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `celery -A shopwright.worker worker --beat` until the test ends; yield it and its output file."""
    settings = {
        "DATABASE_URL": postgresql_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker_url,
        "REDIS_KEY_PREFIX": f"{REDIS_RUN_PREFIX}-worker-{uuid.uuid4().hex}",
        "EMAIL_BACKEND": "file",
        "EMAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }
    with celery_worker(tmp_path, settings) as worker:
        yield worker


def test_the_worker_delivers_outbox_events_on_beat(
    worker_log: tuple[subprocess.Popen[bytes], Path], sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    process, log = worker_log
    # Given a committed event whose delivery writes an email (file backend), and nobody delivering in-process
    event_id = _publish_reset(sessions, "kim.worker@example.com")

    # When beat sends deliver_events to the worker through Redis
    outbox_dir = tmp_path / "outbox"
    _wait_for("email", lambda: any(outbox_dir.glob("*.eml")), process, log)

    # Then exactly one email went out, and the event is recorded as delivered once, its secrets erased
    [eml] = list(outbox_dir.glob("*.eml"))
    message = message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert message["To"] == "kim.worker@example.com"
    assert "https://shop.example/reset?token=t0k3n" in message.get_body().get_content()  # type: ignore[union-attr]
    _wait_for("delivered event", lambda: _event(sessions, event_id).delivered_at is not None, process, log)
    event = _event(sessions, event_id)
    assert (event.attempts, event.failed_at, event.payload) == (1, None, {"delivered": True})


def test_the_worker_expires_carts_on_beat(
    worker_log: tuple[subprocess.Popen[bytes], Path],
) -> None:
    process, log = worker_log

    _wait_for(
        "carts.expired log line",
        lambda: any(e.get("event") == "carts.expired" for e in _log_events(log)),
        process,
        log,
    )

    [first, *_] = [e for e in _log_events(log) if e.get("event") == "carts.expired"]
    assert (first["carts"], first["units"], first["level"]) == (0, 0, "info")


def test_without_a_broker_tasks_run_in_the_caller(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], mailbox: Mailbox
) -> None:
    # Given the embedded setup (no CELERY_BROKER_URL, no REDIS_URL) and an event left pending
    app = make_app(REDIS_URL=None)
    celery_app = celery_init_app(app)
    event_id = _publish_reset(sessions, "eager@example.com")
    assert celery_app.conf.task_always_eager is True

    # When the tasks are sent
    delivered = celery_app.tasks[DELIVER_EVENTS].delay().get()
    expired = celery_app.tasks[EXPIRE_CARTS].delay().get()

    # Then they ran right away, in the caller's process
    assert delivered == 1
    assert len(mailbox.to("eager@example.com")) == 1
    assert _event(sessions, event_id).delivered_at is not None
    assert expired == {"carts": 0, "units": 0}


def test_the_purge_task_deletes_expired_revocation_entries_only(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    # Given the revocation table's copy with one entry past its token's expiry and one still needed
    app = make_app(REDIS_URL=None)
    celery_app = celery_init_app(app)
    now = utcnow()
    with sessions() as session, session.begin():
        session.add(RevokedToken(key="jti:old", expires_at=now - timedelta(minutes=1)))
        session.add(RevokedToken(key="jti:live", expires_at=now + timedelta(minutes=10)))

    # When beat's hourly purge runs
    purged = celery_app.tasks[PURGE_REVOKED_TOKENS].delay().get()

    # Then only the expired entry is gone
    assert purged == 1
    with sessions() as session:
        assert session.scalars(select(RevokedToken.key)).all() == ["jti:live"]


def test_the_events_purge_task_follows_the_retention_setting(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    # Given events delivered 8, 6 and 1 day(s) ago, and a retention of a week
    app = make_app(REDIS_URL=None, OUTBOX_RETENTION_DAYS=7)
    celery_app = celery_init_app(app)
    now = utcnow()
    with sessions() as session, session.begin():
        for days in (8, 6, 1):
            session.add(Event(name=f"{days}d", payload={}, delivered_at=now - timedelta(days=days)))

    # When beat's hourly purge runs
    purged = celery_app.tasks[PURGE_EVENTS].delay().get()

    # Then only the event past the retention is gone
    assert purged == 1
    with sessions() as session:
        assert session.scalars(select(Event.name).order_by(Event.id)).all() == ["6d", "1d"]


def test_commits_ask_for_one_delivery_run_until_it_starts(
    make_app: Callable[..., Flask], redis_url: str, broker_url: str, sessions: sessionmaker[Session]
) -> None:
    # Given the web app in worker mode and no worker running (the messages stay in the broker's queue)
    prefix = f"{REDIS_RUN_PREFIX}-wake-{uuid.uuid4().hex}"
    app = make_app(
        REDIS_URL=redis_url, CELERY_BROKER_URL=broker_url, OUTBOX_DELIVERY="worker", REDIS_KEY_PREFIX=prefix
    )
    celery_app = celery_init_app(app)
    broker = redis.Redis.from_url(broker_url)
    queue = f"{prefix}:celery:celery"  # the default queue, under the app's key prefix

    def commit_an_event() -> None:
        with app.extensions["shopwright.sessions"]() as session, session.begin():
            outbox.publish(session, PASSWORD_RESET_REQUESTED, {"email": "nobody@example.com"})

    # When three commits publish events before any run starts
    for _ in range(3):
        commit_an_event()

    # Then one deliver_events run was asked for, and the wake-up key lasts no longer than beat's interval
    assert broker.llen(queue) == 1
    assert 0 < redis.Redis.from_url(redis_url).ttl(wake_up_key(app.extensions["shopwright.settings"])) <= 10

    # When that run starts (here, in this process), it delivers all three
    assert celery_app.tasks[DELIVER_EVENTS]() == 3

    # Then the next commit asks for a new run
    commit_an_event()
    assert broker.llen(queue) == 2
