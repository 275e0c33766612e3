"""POST /api/payments/webhooks/<provider>: signed, idempotent by event id, settling a payment once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.outbox import Event
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import ChargeResult, TestGateway, sign_webhook
from shopwright.payments.models import Payment
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

SECRET = "whsec-api-tests-0123456789abcdefghij"
URL = "/api/payments/webhooks/test"


class StalledGateway(TestGateway):
    """A provider whose answer to the charge call is lost (a timeout): only its webhook will tell."""

    def charge(self, **kwargs: Any) -> ChargeResult:
        super().charge(**kwargs)
        raise PaymentProviderError("Timed out waiting for the payment provider.")


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(PAYMENT_WEBHOOK_SECRET=SECRET)


def _send(
    client: FlaskClient, event: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None
) -> Any:
    body = json.dumps(event).encode()
    headers = {
        "Shopwright-Signature": sign_webhook(secret, body, timestamp),
        "Content-Type": "application/json",
    }
    return client.post(URL, data=body, headers=headers)


def _event(
    payment_id: int,
    kind: str = "payment.succeeded",
    event_id: str = "evt_1",
    *,
    amount_cents: int | None,
    currency: str | None = "USD",
) -> dict[str, Any]:
    data = {"payment_id": payment_id, "provider_ref": "test_ch_1", "amount_cents": amount_cents}
    if currency is not None:
        data["currency"] = currency
    return {"id": event_id, "type": kind, "data": data}


@pytest.fixture
def stalled(
    app: Flask, shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> tuple[Buyer, dict[str, Any], int]:
    """A pending order whose payment timed out at the provider: the payment stays processing."""
    product = shop.product(shop.category()["id"])
    buyer = Buyer(client, customer(client))
    order = buyer.buy(product["id"])
    app.extensions["shopwright.gateway"] = StalledGateway(SECRET)
    assert_problem(buyer.pay(order["id"]), 502, "payment_provider_unavailable")
    with sessions() as session:
        payment_id = session.scalars(select(Payment.id).where(Payment.order_id == order["id"])).one()
    return buyer, order, payment_id


def _paid_events(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(
            session.scalar(select(func.count()).select_from(Event).where(Event.name == "order.paid")) or 0
        )


def test_a_timed_out_payment_stays_processing_and_blocks_a_second_charge(
    stalled: tuple[Buyer, dict[str, Any], int],
) -> None:
    buyer, order, _ = stalled
    assert [p["status"] for p in buyer.order(order["id"])["payments"]] == ["processing"]
    assert_problem(buyer.pay(order["id"]), 409, "payment_in_progress")


def test_a_signed_success_event_pays_the_order_once(
    stalled: tuple[Buyer, dict[str, Any], int], client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    buyer, order, payment_id = stalled

    total = order["total_cents"]
    first = _send(client, _event(payment_id, amount_cents=total))
    again = _send(client, _event(payment_id, amount_cents=total))
    other_id = _send(client, _event(payment_id, event_id="evt_2", amount_cents=total))

    assert (first.status_code, again.status_code, other_id.status_code) == (200, 200, 200)
    detail = buyer.order(order["id"])
    assert detail["status"] == "paid"
    assert [p["status"] for p in detail["payments"]] == ["succeeded"]
    assert _paid_events(sessions) == 1


def test_a_failure_event_leaves_the_order_pending_and_payable(
    stalled: tuple[Buyer, dict[str, Any], int], client: FlaskClient, app: Flask
) -> None:
    buyer, order, payment_id = stalled

    assert (
        _send(client, _event(payment_id, "payment.failed", amount_cents=order["total_cents"])).status_code
        == 200
    )

    detail = buyer.order(order["id"])
    assert detail["status"] == "pending"
    assert [p["status"] for p in detail["payments"]] == ["failed"]
    app.extensions["shopwright.gateway"] = TestGateway(SECRET)
    assert buyer.pay(order["id"]).status_code == 200


@pytest.mark.parametrize("tamper", ["wrong_secret", "old_timestamp", "no_header", "edited_body"])
def test_unsigned_or_tampered_events_are_refused_and_change_nothing(
    stalled: tuple[Buyer, dict[str, Any], int],
    client: FlaskClient,
    sessions: sessionmaker[Session],
    tamper: str,
) -> None:
    buyer, order, payment_id = stalled
    event = _event(payment_id, amount_cents=order["total_cents"])

    if tamper == "wrong_secret":
        response = _send(client, event, secret="not-the-secret-0123456789abcdefgh")
    elif tamper == "old_timestamp":
        response = _send(client, event, timestamp=int(time.time()) - 3600)
    elif tamper == "no_header":
        response = client.post(URL, data=json.dumps(event), content_type="application/json")
    else:
        body = json.dumps(event).encode()
        signature = sign_webhook(SECRET, body)
        edited = body.replace(b"payment.succeeded", b"payment.failed")
        headers = {"Shopwright-Signature": signature}
        response = client.post(URL, data=edited, headers=headers, content_type="application/json")

    assert_problem(response, 400, "invalid_signature")
    assert buyer.order(order["id"])["status"] == "pending"
    with sessions() as session:
        assert session.scalars(select(Payment.status)).one() == "processing"


def test_an_event_for_another_amount_is_ignored(
    stalled: tuple[Buyer, dict[str, Any], int], client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    buyer, order, payment_id = stalled
    assert _send(client, _event(payment_id, amount_cents=order["total_cents"] - 1)).status_code == 200
    assert buyer.order(order["id"])["status"] == "pending"
    assert (
        _send(client, _event(payment_id, event_id="evt_2", amount_cents=order["total_cents"])).status_code
        == 200
    )
    assert buyer.order(order["id"])["status"] == "paid"


def test_an_unknown_provider_is_not_found(client: FlaskClient) -> None:
    response = client.post("/api/payments/webhooks/paypal", data=b"{}", content_type="application/json")
    assert_problem(response, 404, "unknown_payment_provider")


@pytest.mark.parametrize("field", ["id", "type", "provider_ref", "currency"])
def test_a_signed_event_with_a_nul_in_a_string_is_refused(
    stalled: tuple[Buyer, dict[str, Any], int],
    client: FlaskClient,
    sessions: sessionmaker[Session],
    field: str,
) -> None:
    buyer, order, payment_id = stalled
    event = _event(payment_id, amount_cents=order["total_cents"])
    if field in ("id", "type"):
        event[field] += "\x00"
    else:
        event["data"][field] += "\x00"

    assert_problem(_send(client, event), 400, "invalid_signature")
    assert buyer.order(order["id"])["status"] == "pending"
    with sessions() as session:
        assert session.scalars(select(Payment.status)).one() == "processing"


@pytest.mark.parametrize(
    ("kind", "missing"),
    [
        ("payment.succeeded", "amount"),
        ("payment.succeeded", "currency"),
        ("payment.succeeded", "both"),
        ("payment.failed", "amount"),
        ("payment.failed", "currency"),
    ],
)
def test_a_signed_event_without_amount_or_currency_settles_nothing(
    stalled: tuple[Buyer, dict[str, Any], int],
    client: FlaskClient,
    sessions: sessionmaker[Session],
    kind: str,
    missing: str,
) -> None:
    # A provider's event states what it charged; one that does not say cannot be checked against the
    # payment, so it must not decide it (it used to pay the order).
    buyer, order, payment_id = stalled
    total = order["total_cents"]
    event = _event(
        payment_id,
        kind,
        amount_cents=None if missing in ("amount", "both") else total,
        currency=None if missing in ("currency", "both") else "USD",
    )

    assert _send(client, event).status_code == 200  # received (and recorded), not acted upon

    assert buyer.order(order["id"])["status"] == "pending"
    with sessions() as session:
        assert session.scalars(select(Payment.status)).one() == "processing"
    assert _paid_events(sessions) == 0
    complete = _event(payment_id, kind, event_id="evt_complete", amount_cents=total)
    assert _send(client, complete).status_code == 200
    assert buyer.order(order["id"])["status"] == ("paid" if kind == "payment.succeeded" else "pending")
