"""Emails and webhooks through real processes: gunicorn, a Celery worker with beat on Redis, aiosmtpd, and
an HTTP receiver. The worker is SIGKILLed in the middle of a batch and restarted.

What holds after the kill (and what this test checks):
- emails: at most once each. An email whose SMTP call the kill interrupted stays `sending` and is never
  sent again (docs/operations.md); every other email arrives exactly once.
- webhooks: at least once each, every delivery. A delivery whose POST the kill interrupted is sent again
  once its claim lapses, with the same event id and the same bytes, so a receiver that dedupes by id sees
  each event exactly once. Duplicates are bounded by the worker's pool size (one POST in flight each).
"""

from __future__ import annotations

import os
import signal
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.seed import ensure_admin
from shopwright.notifications import mail_queue
from shopwright.notifications.models import SENDING, SENT, Email
from tests.conftest import REDIS_RUN_PREFIX, Mailbox, free_port
from tests.support.servers import LiveServer, celery_worker, serve
from tests.webhook_receiver import Receiver, documented_verify, webhook_receiver

pytestmark = [pytest.mark.postgres_only, pytest.mark.redis]
BROKER_DB = 14
POOL = 2
ORDERS = 24


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as server:
        yield server


@pytest.fixture
def stack_settings(redis_url: str, postgresql_url: str) -> Iterator[dict[str, str]]:
    """The environment shared by gunicorn and the worker: one database, one broker namespace."""
    broker = f"{redis_url.rsplit('/', 1)[0]}/{BROKER_DB}"
    prefix = f"{REDIS_RUN_PREFIX}-notify-{uuid.uuid4().hex}"
    yield {
        "DATABASE_URL": postgresql_url,
        "REDIS_URL": redis_url,
        "CELERY_BROKER_URL": broker,
        "REDIS_KEY_PREFIX": prefix,
        "OUTBOX_DELIVERY": "worker",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_TIMEOUT_SECONDS": "2",
        "EMAIL_BACKEND": "smtp",
    }
    client = redis.Redis.from_url(broker)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def _wait(what: str, condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.1)


def _shop(server: LiveServer, sessions: sessionmaker[Session], receiver: Receiver) -> tuple[str, int, str]:
    """An admin with a webhook endpoint and a product; return (admin token, product id, webhook secret)."""
    with sessions() as session:
        ensure_admin(session, "ops@example.com", "Adm1n-passw0rd")
    token = server.login("ops@example.com", "Adm1n-passw0rd")
    status, hook = server.request(
        "POST", "/api/admin/webhooks", {"url": receiver.url, "events": ["order.created"]}, token
    )
    assert status == 201, hook
    body = {"name": "Lamp", "sku": f"L-{uuid.uuid4().hex[:6]}", "price_cents": 1999, "stock_quantity": 500}
    status, product = server.request("POST", "/api/products", body, token)
    assert status == 201, product
    return token, int(product["id"]), str(hook["secret"])


def _customer(server: LiveServer) -> tuple[str, str]:
    email = f"buyer-{uuid.uuid4().hex[:8]}@example.com"
    status, _ = server.request("POST", "/api/auth/register", {"email": email, "password": "Passw0rd-ok"})
    assert status == 201
    return email, server.login(email, "Passw0rd-ok")


def _order(server: LiveServer, token: str, product_id: int) -> int:
    status, _ = server.request("POST", "/api/cart/items", {"product_id": product_id, "quantity": 1}, token)
    assert status == 201
    status, order = server.request(
        "POST", "/api/orders", {"delivery_address": "1 Main St, Springfield, US"}, token
    )
    assert status == 201, order
    return int(order["id"])


def _order_id(message: Any) -> int:
    return int(str(message["Subject"]).split("#")[1].split()[0])


def test_an_order_emails_the_customer_and_posts_a_signed_webhook_through_the_worker(
    postgresql_url: str,
    committed_db: Any,
    redis_url: str,
    smtp_server: tuple[str, int, Mailbox],
    mailbox: Mailbox,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    stack_settings: dict[str, str],
    tmp_path: Path,
) -> None:
    host, port, _ = smtp_server
    worker_env = {**stack_settings, "SMTP_HOST": host, "SMTP_PORT": str(port)}
    with (
        serve(postgresql_url, redis_url, smtp_server, workers=1, settings=stack_settings) as server,
        celery_worker(tmp_path, worker_env),
    ):
        _, product_id, secret = _shop(server, sessions, receiver)
        email, token = _customer(server)

        order_id = _order(server, token, product_id)

        _wait("confirmation email", lambda: bool(mailbox.to(email)))
        [request] = receiver.wait_for(1, timeout=30)
    [message] = mailbox.to(email)
    assert message["Subject"] == f"Order #{order_id} received"
    assert message.get_content_type() == "multipart/alternative"
    assert documented_verify()(secret, request.headers["Shopwright-Signature"], request.body)
    assert (request.json["type"], request.json["data"]["id"]) == ("order.created", order_id)


def test_a_worker_killed_mid_batch_loses_nothing_and_sends_each_email_at_most_once(
    postgresql_url: str,
    committed_db: Any,
    redis_url: str,
    smtp_server: tuple[str, int, Mailbox],
    mailbox: Mailbox,
    receiver: Receiver,
    sessions: sessionmaker[Session],
    stack_settings: dict[str, str],
    tmp_path: Path,
) -> None:
    host, port, _ = smtp_server
    worker_env = {**stack_settings, "SMTP_HOST": host, "SMTP_PORT": str(port)}
    receiver.delay = 0.25  # a slow receiver: the batch takes several seconds, the kill lands inside it
    with serve(postgresql_url, redis_url, smtp_server, workers=1, settings=stack_settings) as server:
        # Given a batch of orders placed while no worker runs: their events wait in the outbox
        _, product_id, secret = _shop(server, sessions, receiver)
        email, token = _customer(server)
        order_ids = [_order(server, token, product_id) for _ in range(ORDERS)]

    # When a worker starts on the batch and is SIGKILLed (with its pool and beat) halfway through
    with celery_worker(tmp_path, worker_env) as (process, _log):
        _wait("half of the webhooks", lambda: len(receiver.requests()) >= ORDERS // 3)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    received_at_kill = len(receiver.requests())
    assert received_at_kill < ORDERS, "the kill came after the batch: nothing was interrupted"

    # And a new worker is started
    (tmp_path / "again").mkdir()
    with celery_worker(tmp_path / "again", worker_env):
        _wait("every webhook", lambda: _events(receiver) == ORDERS)
        _wait("every email settled", lambda: _settled(sessions) == ORDERS)
        time.sleep(2)  # anything sent twice would show up by now

    # Then every webhook event arrived, signed, and any repeat is the same event (same id, same bytes)
    requests = receiver.requests()
    by_event = Counter(r.json["id"] for r in requests)
    assert {r.json["data"]["id"] for r in requests} == set(order_ids)
    assert len(by_event) == ORDERS
    assert sum(by_event.values()) - ORDERS <= POOL
    for r in requests:
        assert documented_verify()(secret, r.headers["Shopwright-Signature"], r.body)
    # And every email arrived at most once; one missing only if the kill interrupted its SMTP call
    arrived = Counter(_order_id(m) for m in mailbox.to(email))
    assert set(arrived.values()) <= {1}
    with sessions() as session:
        statuses = dict(session.execute(select(Email.event_id, Email.status)).all())
    interrupted = [s for s in statuses.values() if s == SENDING]
    assert len(interrupted) <= POOL
    assert len(arrived) == ORDERS - len(interrupted)
    assert list(statuses.values()).count(SENT) == len(arrived)


def _events(receiver: Receiver) -> int:
    return len({r.json["id"] for r in receiver.requests()})


def _settled(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(Email.status).where(Email.status.in_((SENT, SENDING)))).all())


def test_a_worker_serves_the_metrics_of_its_pool_processes(
    committed_db: Any, sessions: sessionmaker[Session], stack_settings: dict[str, str], tmp_path: Path
) -> None:
    # Given a worker with a metrics port, its pool writing into a multiprocess directory
    port = free_port()
    (tmp_path / "prometheus").mkdir()
    env = {
        **stack_settings,
        "EMAIL_BACKEND": "file",
        "EMAIL_OUTBOX_DIR": str(tmp_path / "mail"),
        "WORKER_METRICS_PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
    }
    with sessions() as session, session.begin():
        mail_queue.queue_email(
            session,
            7,
            "email_changed",
            "kim@example.com",
            {"name": None, "new_email": "k@example.com"},
            sender="shop@example.com",
        )

    with celery_worker(tmp_path, env):
        # When a pool process sends the queued email
        _wait("the email", lambda: any((tmp_path / "mail").glob("*.eml")))
        # Then the main process's endpoint counts it
        _wait("the sent email in the worker's metrics", lambda: _emails_sent(port) == 1.0)


def _emails_sent(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return -1.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "shopwright_emails_total" and sample.labels.get("outcome") == "sent":
                return float(sample.value)
    return 0.0
