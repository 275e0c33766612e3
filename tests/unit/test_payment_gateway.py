"""The built-in test gateway: tokens decide outcomes, idempotent replays, signed webhooks."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from shopwright.config import Settings
from shopwright.payments.errors import InvalidSignature, UnknownPaymentProvider
from shopwright.payments.gateway import (
    PAYMENT_SUCCEEDED,
    ChargeResult,
    GatewayEvent,
    TestGateway,
    make_gateway,
    sign_webhook,
)

SECRET = "whsec-test-0123456789abcdef0123456789"


def charge(gateway: TestGateway, token: str, key: str = "k-1") -> ChargeResult:
    return gateway.charge(
        payment_id=1, amount_cents=1999, currency="USD", payment_method=token, idempotency_key=key
    )


def event_body(**overrides: Any) -> bytes:
    body = {
        "id": "evt_1",
        "type": PAYMENT_SUCCEEDED,
        "data": {"payment_id": 7, "provider_ref": "test_ch_abc", "amount_cents": 1999, "currency": "usd"},
    }
    body.update(overrides)
    return json.dumps(body).encode()


@pytest.fixture
def gateway() -> TestGateway:
    return TestGateway(SECRET)


# --- charges and refunds -----------------------------------------------------------------------
def test_tok_visa_succeeds_with_a_test_charge_reference(gateway: TestGateway) -> None:
    result = charge(gateway, "tok_visa")

    assert result.succeeded is True
    assert result.provider_ref is not None
    assert result.provider_ref.startswith("test_ch_")
    assert len(result.provider_ref) == len("test_ch_") + 32
    assert result.failure_code is None


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_mastercard", "invalid_payment_method"),
        ("", "invalid_payment_method"),
    ],
)
def test_other_tokens_decline_with_a_code(gateway: TestGateway, token: str, code: str) -> None:
    result = charge(gateway, token)

    assert result.succeeded is False
    assert result.provider_ref is None
    assert result.failure_code == code
    assert result.failure_message


def test_the_same_idempotency_key_replays_the_first_result(gateway: TestGateway) -> None:
    first = charge(gateway, "tok_visa", key="order-1")

    again = charge(gateway, "tok_visa", key="order-1")
    other = charge(gateway, "tok_visa", key="order-2")

    assert again == first
    assert other.provider_ref != first.provider_ref


def test_a_replay_keeps_a_decline_even_with_another_token(gateway: TestGateway) -> None:
    declined = charge(gateway, "tok_chargeDeclined", key="k")

    assert charge(gateway, "tok_visa", key="k") == declined


def test_refunds_succeed_and_replay_by_key(gateway: TestGateway) -> None:
    charged = charge(gateway, "tok_visa")
    assert charged.provider_ref is not None

    first = gateway.refund(provider_ref=charged.provider_ref, amount_cents=500, idempotency_key="r-1")
    again = gateway.refund(provider_ref=charged.provider_ref, amount_cents=500, idempotency_key="r-1")

    assert first.succeeded is True
    assert first.provider_ref is not None
    assert first.provider_ref.startswith("test_re_")
    assert again == first


def test_a_charge_made_with_tok_refundfails_succeeds_but_cannot_be_refunded(gateway: TestGateway) -> None:
    charged = charge(gateway, "tok_refundFails")
    assert charged.succeeded is True
    assert charged.provider_ref is not None

    refund = gateway.refund(provider_ref=charged.provider_ref, amount_cents=1999, idempotency_key="r")

    assert refund.succeeded is False
    assert refund.provider_ref is None
    assert refund.failure_message


# --- webhooks ----------------------------------------------------------------------------------
def test_a_signed_webhook_is_parsed_into_a_normalised_event(gateway: TestGateway) -> None:
    body = event_body()

    event = gateway.parse_webhook(body, {"Shopwright-Signature": sign_webhook(SECRET, body)})

    assert event == GatewayEvent(
        id="evt_1",
        type=PAYMENT_SUCCEEDED,
        payment_id=7,
        provider_ref="test_ch_abc",
        amount_cents=1999,
        currency="USD",
    )


def test_header_names_are_case_insensitive_and_unknown_types_pass_through(gateway: TestGateway) -> None:
    body = event_body(type="dispute.created", data={})

    event = gateway.parse_webhook(body, {"shopwright-signature": sign_webhook(SECRET, body)})

    assert (event.type, event.payment_id, event.amount_cents) == ("dispute.created", None, None)


def test_a_signature_within_the_tolerance_is_accepted(gateway: TestGateway) -> None:
    body = event_body()
    header = sign_webhook(SECRET, body, timestamp=int(time.time()) - 290)

    assert gateway.parse_webhook(body, {"Shopwright-Signature": header}).id == "evt_1"


def test_one_matching_signature_among_several_is_enough(gateway: TestGateway) -> None:
    # Lets a sender sign with the old and the new secret while the key is rotated.
    body = event_body()
    timestamp = int(time.time())
    old = sign_webhook("old-secret", body, timestamp).split(",")[1]
    header = f"{sign_webhook(SECRET, body, timestamp)},{old}"

    assert gateway.parse_webhook(body, {"Shopwright-Signature": header}).id == "evt_1"


def _refused(gateway: TestGateway, body: bytes, headers: dict[str, str], match: str) -> None:
    with pytest.raises(InvalidSignature, match=match) as error:
        gateway.parse_webhook(body, headers)
    assert error.value.status == 400
    assert error.value.code == "invalid_signature"


def test_a_tampered_body_is_refused(gateway: TestGateway) -> None:
    header = sign_webhook(SECRET, event_body())

    tampered = event_body(data={"payment_id": 8, "amount_cents": 1})

    _refused(gateway, tampered, {"Shopwright-Signature": header}, "does not match")


def test_a_signature_made_with_another_secret_is_refused(gateway: TestGateway) -> None:
    body = event_body()

    _refused(gateway, body, {"Shopwright-Signature": sign_webhook("wrong-secret", body)}, "does not match")


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_timestamp_outside_300_seconds_is_refused(gateway: TestGateway, age: int) -> None:
    # Too old is a replay; too far in the future would let a captured request live on.
    body = event_body()
    header = sign_webhook(SECRET, body, timestamp=int(time.time()) - age)

    _refused(gateway, body, {"Shopwright-Signature": header}, "tolerance")


@pytest.mark.parametrize("headers", [{}, {"Shopwright-Signature": ""}, {"Stripe-Signature": "t=1,v1=ab"}])
def test_a_missing_signature_header_is_refused(gateway: TestGateway, headers: dict[str, str]) -> None:
    _refused(gateway, event_body(), headers, "missing")


@pytest.mark.parametrize(
    "header",
    [
        "garbage",
        "v1=abc",
        "t=,v1=abc",
        "t=abc,v1=abc",
        "t=123",
        "t=123,v1=",
        "t=1,t=2,v1=abc",
        "t=²,v1=abc",
        "t=-5,v1=abc",
    ],
)
def test_a_malformed_signature_header_is_refused(gateway: TestGateway, header: str) -> None:
    _refused(gateway, event_body(), {"Shopwright-Signature": header}, "malformed")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "payment.succeeded"}',
        b'{"id": 5, "type": "payment.succeeded"}',
        b'{"id": "", "type": "payment.succeeded"}',
        b'{"id": "evt", "type": "payment.succeeded", "data": {"payment_id": "7"}}',
        b'{"id": "evt", "type": "payment.succeeded", "data": {"payment_id": true}}',
        b'{"id": "evt", "type": "payment.succeeded", "data": {"amount_cents": 1e3}}',
        b'{"id": "evt", "type": "payment.succeeded", "data": []}',
    ],
)
def test_a_signed_body_that_is_not_an_event_is_refused(gateway: TestGateway, body: bytes) -> None:
    _refused(gateway, body, {"Shopwright-Signature": sign_webhook(SECRET, body)}, "not a valid event")


# --- configuration -----------------------------------------------------------------------------
def test_make_gateway_builds_the_configured_provider() -> None:
    settings = Settings(_env_file=None, PAYMENT_WEBHOOK_SECRET=SECRET)  # type: ignore[call-arg]

    gateway = make_gateway(settings, "test")

    assert gateway.name == "test"
    body = event_body()
    assert gateway.parse_webhook(body, {"Shopwright-Signature": sign_webhook(SECRET, body)}).id == "evt_1"


@pytest.mark.parametrize("provider", ["stripe", "paypal", ""])
def test_an_unconfigured_provider_is_unknown(provider: str) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    with pytest.raises(UnknownPaymentProvider) as error:
        make_gateway(settings, provider)
    assert error.value.status == 404
