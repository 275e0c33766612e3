"""Outgoing webhooks: endpoints (admin CRUD), one delivery row per (event, endpoint), sent after commit.

A delivery is claimed in a short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL) that marks it
`sending` until `claimed_until`, then the POST happens outside any transaction, then the answer is
recorded if the claim is still ours. Two workers therefore never send one delivery at the same time;
a worker that died mid-POST lets the delivery go again after the lease, so a receiver may see an
event twice (at least once): it dedupes by the body's `id` or the Shopwright-Delivery header.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright import metrics, outbox
from shopwright.db import get_by_id, is_row_id, utcnow
from shopwright.notifications import webhook_http
from shopwright.notifications.errors import (
    WebhookDeliveryInProgress,
    WebhookDeliveryNotFound,
    WebhookNotFound,
    WebhookUrlRefused,
)
from shopwright.notifications.models import (
    FAILED,
    PENDING,
    SENDING,
    SUCCEEDED,
    WebhookDelivery,
    WebhookEndpoint,
)
from shopwright.notifications.schemas import WebhookCreate, WebhookUpdate
from shopwright.observability import get_logger
from shopwright.outbox import Event
from shopwright.pagination import KeysetPage, keyset_page
from shopwright.schemas import iso_utc

log = get_logger(__name__)
ENDPOINT_DISABLED = "webhooks.endpoint_disabled"
# Waits after each failed try: 8 tries over about 22.6 h (each wait gets up to 10 % of jitter).
BACKOFF_SECONDS = (60, 300, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
DISABLE_AFTER = timedelta(days=3)
# A claim lasts this many POST timeouts: one older than that belongs to a worker that died.
LEASE_TIMEOUTS = 3


@dataclass(frozen=True)
class Delivered:
    succeeded: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt: int
    endpoint_id: int
    url: str
    secret: str
    event_id: int
    type: str
    body: str


# --- endpoints (admin use cases) ---------------------------------------------------------------
def _checked(url: str, allow_private: bool) -> str:
    try:
        webhook_http.resolve(url, allow_private=allow_private)
    except webhook_http.UnsafeUrl as error:
        raise WebhookUrlRefused(
            f"The URL is not allowed: {error}", errors=[{"field": "url", "message": str(error)}]
        ) from None
    return url


def create_endpoint(session: Session, data: WebhookCreate, *, allow_private: bool) -> WebhookEndpoint:
    """Save a webhook endpoint with a new random secret (32 bytes) after checking its URL."""
    url = _checked(data.url, allow_private)
    with session.begin():
        endpoint = WebhookEndpoint(
            url=url, events=list(dict.fromkeys(data.events)), description=data.description, secret=_secret()
        )
        session.add(endpoint)
    return endpoint


def _secret() -> str:
    return "whsec_" + secrets.token_hex(32)


def list_endpoints(session: Session, *, limit: int, cursor: str | None) -> KeysetPage[WebhookEndpoint]:
    """Return a page of webhook endpoints, newest first."""
    return keyset_page(session, select(WebhookEndpoint), WebhookEndpoint.id, limit=limit, cursor=cursor)


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Return a webhook endpoint or raise WebhookNotFound."""
    endpoint = get_by_id(session, WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise WebhookNotFound(f"Webhook endpoint {endpoint_id} not found")
    return endpoint


def update_endpoint(
    session: Session, endpoint_id: int, data: WebhookUpdate, *, allow_private: bool
) -> WebhookEndpoint:
    """Change an endpoint's URL, events, description or activity; turning it on clears its failures."""
    url = _checked(data.url, allow_private) if data.url is not None else None
    with session.begin():
        endpoint = get_endpoint(session, endpoint_id)
        if url is not None:
            endpoint.url = url
        if data.events is not None:
            endpoint.events = list(dict.fromkeys(data.events))
        if "description" in data.model_fields_set:
            endpoint.description = data.description
        if data.is_active is not None:
            if data.is_active and not endpoint.is_active:
                endpoint.failing_since = endpoint.disabled_at = None
            endpoint.is_active = data.is_active
        endpoint.updated_at = utcnow()
    return endpoint


def rotate_secret(session: Session, endpoint_id: int) -> WebhookEndpoint:
    """Give an endpoint a new secret; deliveries from now on are signed with it."""
    with session.begin():
        endpoint = get_endpoint(session, endpoint_id)
        endpoint.secret = _secret()
        endpoint.updated_at = utcnow()
    return endpoint


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """Delete an endpoint and its deliveries."""
    with session.begin():
        session.delete(get_endpoint(session, endpoint_id))


def list_deliveries(
    session: Session, endpoint_id: int, *, limit: int, cursor: str | None
) -> KeysetPage[WebhookDelivery]:
    """Return a page of an endpoint's deliveries, newest first."""
    get_endpoint(session, endpoint_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    return keyset_page(session, statement, WebhookDelivery.id, limit=limit, cursor=cursor)


def redeliver(session: Session, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again as soon as a worker can (one more try, whatever happened before)."""
    with session.begin():
        delivery = (
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id)
                .with_for_update()
            ).first()
            if is_row_id(endpoint_id) and is_row_id(delivery_id)  # an id no row can have is a 404, not a 500
            else None
        )
        if delivery is None:
            raise WebhookDeliveryNotFound(f"Endpoint {endpoint_id} has no delivery {delivery_id}")
        if delivery.status == SENDING and (delivery.claimed_until or utcnow()) > utcnow():
            raise WebhookDeliveryInProgress(f"Delivery {delivery_id} is being sent right now; retry shortly")
        delivery.status = PENDING
        delivery.next_attempt_at = utcnow()
        delivery.attempts = min(delivery.attempts, MAX_ATTEMPTS - 1)
        outbox.deliver_after_commit(session)
    return delivery


# --- deliveries ----------------------------------------------------------------------------------
def queue_deliveries(session: Session, event: Event, data: dict[str, Any] | None) -> int:
    """Add one delivery per active endpoint subscribed to the event; runs inside the caller's transaction."""
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.is_active)).all()
    wanted = [e for e in endpoints if event.name in e.events]
    if not wanted or data is None:
        return 0
    body = json.dumps(
        {"id": event.id, "type": event.name, "created_at": iso_utc(event.created_at), "data": data},
        separators=(",", ":"),
    )
    session.add_all(
        WebhookDelivery(endpoint_id=e.id, event_id=event.id, type=event.name, body=body) for e in wanted
    )
    return len(wanted)


def deliver_due(
    sessions: sessionmaker[Session], *, allow_private: bool, timeout: float, limit: int = 100
) -> Delivered:
    """Send the deliveries that are due, one at a time; return the counts."""
    succeeded = failed = 0
    for _ in range(limit):
        claim = _claim(sessions, timedelta(seconds=LEASE_TIMEOUTS * timeout))
        if claim is None:
            break
        ok, code, snippet, error = _attempt(claim, allow_private=allow_private, timeout=timeout)
        _record(sessions, claim, ok=ok, code=code, snippet=snippet, error=error)
        succeeded += ok
        failed += not ok
        metrics.WEBHOOK_DELIVERIES.labels(outcome="succeeded" if ok else "failed").inc()
    return Delivered(succeeded, failed)


def _claim(sessions: sessionmaker[Session], lease: timedelta) -> Claim | None:
    now = utcnow()
    with sessions() as session, session.begin():
        row = session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(
                WebhookEndpoint.is_active,
                or_(
                    (WebhookDelivery.status == PENDING) & (WebhookDelivery.next_attempt_at <= now),
                    (WebhookDelivery.status == SENDING) & (WebhookDelivery.claimed_until < now),
                ),
            )
            .order_by(WebhookDelivery.id)
            .limit(1)
            # A delivery another worker is claiming right now is skipped, not waited for.
            .with_for_update(skip_locked=True, of=WebhookDelivery)
        ).first()
        if row is None:
            return None
        delivery, endpoint = row
        delivery.status = SENDING
        delivery.claimed_until = now + lease
        delivery.attempts += 1
        return Claim(
            delivery.id,
            delivery.attempts,
            endpoint.id,
            endpoint.url,
            endpoint.secret,
            delivery.event_id,
            delivery.type,
            delivery.body,
        )


def _attempt(
    claim: Claim, *, allow_private: bool, timeout: float
) -> tuple[bool, int | None, str | None, str | None]:
    body = claim.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopwright-Webhooks/1",
        webhook_http.SIGNATURE_HEADER: webhook_http.sign(claim.secret, int(time.time()), body),
        "Shopwright-Event": str(claim.event_id),
        "Shopwright-Delivery": str(claim.delivery_id),
    }
    try:
        # Resolved and checked again now: the name may point elsewhere than when it was saved.
        address = webhook_http.resolve(claim.url, allow_private=allow_private)
        answer = webhook_http.post(claim.url, address, body, headers, timeout)
    except Exception as error:  # refused, unreachable, timed out, TLS: a failed try, retried later
        return False, None, None, f"{type(error).__name__}: {error}"[:500]
    ok = 200 <= answer.status < 300
    return ok, answer.status, answer.snippet, None if ok else f"HTTP {answer.status}"


def _record(
    sessions: sessionmaker[Session],
    claim: Claim,
    *,
    ok: bool,
    code: int | None,
    snippet: str | None,
    error: str | None,
) -> None:
    now = utcnow()
    with sessions() as session, session.begin():
        delivery = session.scalars(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.id == claim.delivery_id,
                WebhookDelivery.status == SENDING,
                WebhookDelivery.attempts == claim.attempt,  # still our claim, not a later worker's
            )
            .with_for_update()
        ).first()
        if delivery is None:
            return
        delivery.response_code = code
        delivery.response_snippet = snippet[: webhook_http.SNIPPET_CHARS] if snippet else None
        delivery.last_error = error
        delivery.claimed_until = None
        endpoint = session.get(WebhookEndpoint, claim.endpoint_id, with_for_update=True)
        if ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = SUCCEEDED, now, None
            if endpoint is not None:
                endpoint.failing_since = None
            return
        if delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.next_attempt_at = FAILED, None
        else:
            wait = BACKOFF_SECONDS[delivery.attempts - 1] * random.uniform(1.0, 1.1)  # noqa: S311 (jitter)
            delivery.status, delivery.next_attempt_at = PENDING, now + timedelta(seconds=wait)
        if endpoint is not None:
            _count_failure(session, endpoint, now, error or "")


def _count_failure(session: Session, endpoint: WebhookEndpoint, now: datetime, error: str) -> None:
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.is_active and now - endpoint.failing_since >= DISABLE_AFTER:
        endpoint.is_active = False
        endpoint.disabled_at = now
        log.error(
            "webhook.endpoint_disabled", endpoint_id=endpoint.id, failing_since=str(endpoint.failing_since)
        )
        payload = {
            "endpoint_id": endpoint.id,
            "url": endpoint.url,
            "failing_since": iso_utc(endpoint.failing_since),
            "last_error": error,
        }
        outbox.publish(session, ENDPOINT_DISABLED, payload)
