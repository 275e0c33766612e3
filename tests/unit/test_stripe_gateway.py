"""StripeGateway through the official SDK against a local fake of Stripe's HTTP API (no Stripe servers)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from shopwright.config import Settings
from shopwright.payments.errors import InvalidSignature, PaymentProviderError
from shopwright.payments.gateway import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    ChargeResult,
    StripeGateway,
    make_gateway,
)
from tests.conftest import free_port

API_KEY = "sk_test_fake_0123456789"
WEBHOOK_SECRET = "whsec_fake_0123456789"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]


@dataclass
class FakeStripe:
    """Answers each path from a list of (status, body) replies, the last one repeating; records requests."""

    url: str
    replies: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def reply(self, path: str, *answers: tuple[int, dict[str, Any]]) -> None:
        self.replies[path] = list(answers)


def _handler(fake: FakeStripe) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            form = {key: values[0] for key, values in parse_qs(query, keep_blank_values=True).items()}
            self._answer("GET", path, form)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            form = {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}
            self._answer("POST", self.path, form)

        def _answer(self, method: str, path: str, form: dict[str, str]) -> None:
            fake.seen.append(Seen(method, path, {k.lower(): v for k, v in self.headers.items()}, form))
            answers = fake.replies.get(path) or [(404, {"error": {"type": "invalid_request_error"}})]
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", "req_fake")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:  # keep the test output clean
            pass

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeStripe]:
    port = free_port()
    fake = FakeStripe(url=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def gateway(fake: FakeStripe) -> StripeGateway:
    return StripeGateway(API_KEY, WEBHOOK_SECRET, api_base=fake.url, timeout_seconds=5)


def intent(status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return {
        "id": "pi_123",
        "object": "payment_intent",
        "status": status,
        "amount": 1999,
        "currency": "usd",
    } | extra


def pay(gateway: StripeGateway, key: str = "shopwright-payment-7") -> ChargeResult:
    return gateway.charge(
        payment_id=7, amount_cents=1999, currency="EUR", payment_method="pm_card_visa", idempotency_key=key
    )


# --- charges ------------------------------------------------------------------------------------
def test_a_charge_creates_and_confirms_a_payment_intent(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply("/v1/payment_intents", (200, intent()))

    result = pay(gateway)

    assert result == ChargeResult(True, "pi_123", None, None)
    [request] = fake.seen
    assert (request.method, request.path) == ("POST", "/v1/payment_intents")
    assert request.form == {
        "amount": "1999",
        "currency": "eur",
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "metadata[payment_id]": "7",
        "metadata[shopwright_key]": "shopwright-payment-7",
    }
    assert request.headers["idempotency-key"] == "shopwright-payment-7"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


def test_a_card_error_is_a_declined_result_with_the_decline_code(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.reply(
        "/v1/payment_intents",
        (
            402,
            {
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                    "payment_intent": intent("requires_payment_method", id="pi_declined"),
                }
            },
        ),
    )

    result = pay(gateway)

    assert result == ChargeResult(
        False, "pi_declined", "insufficient_funds", "Your card has insufficient funds."
    )
    assert len(fake.seen) == 1  # a decline is an answer: never retried


def test_an_unknown_payment_method_is_a_failed_charge(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply(
        "/v1/payment_intents",
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": "No such PaymentMethod: 'pm_nope'",
                }
            },
        ),
    )

    result = pay(gateway)

    assert (result.succeeded, result.provider_ref, result.failure_code) == (False, None, "resource_missing")


def test_a_card_that_needs_3d_secure_fails_as_authentication_required(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.reply("/v1/payment_intents", (200, intent("requires_action")))

    result = pay(gateway)

    assert (result.succeeded, result.provider_ref, result.failure_code) == (
        False,
        "pi_123",
        "authentication_required",
    )


def test_a_server_error_is_retried_with_the_same_key_then_raises_provider_error(fake: FakeStripe) -> None:
    gateway = StripeGateway(API_KEY, WEBHOOK_SECRET, api_base=fake.url, max_network_retries=1)
    fake.reply("/v1/payment_intents", (500, {"error": {"type": "api_error", "message": "boom"}}))

    with pytest.raises(PaymentProviderError) as error:
        pay(gateway, key="k-500")

    assert error.value.status == 502
    assert "boom" not in error.value.detail  # provider internals stay in the logs
    assert [s.headers["idempotency-key"] for s in fake.seen] == ["k-500", "k-500"]


def test_an_unreachable_stripe_raises_provider_error() -> None:
    gateway = StripeGateway(
        API_KEY, WEBHOOK_SECRET, api_base=f"http://127.0.0.1:{free_port()}", max_network_retries=0
    )

    with pytest.raises(PaymentProviderError):
        pay(gateway)


def test_a_payment_still_processing_raises_provider_error(fake: FakeStripe, gateway: StripeGateway) -> None:
    # The outcome is not known yet: the payment must stay processing until the webhook settles it.
    fake.reply("/v1/payment_intents", (200, intent("processing")))

    with pytest.raises(PaymentProviderError):
        pay(gateway)


# --- refunds ------------------------------------------------------------------------------------
def test_a_refund_is_created_for_the_intent(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply("/v1/refunds", (200, {"id": "re_1", "object": "refund", "status": "succeeded", "amount": 500}))

    result = gateway.refund(provider_ref="pi_123", amount_cents=500, idempotency_key="shopwright-refund-3")

    assert (result.succeeded, result.provider_ref) == (True, "re_1")
    [request] = fake.seen
    assert request.path == "/v1/refunds"
    assert request.form == {"payment_intent": "pi_123", "amount": "500"}
    assert request.headers["idempotency-key"] == "shopwright-refund-3"


def test_a_refused_refund_is_a_failed_result(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply(
        "/v1/refunds",
        (
            400,
            {
                "error": {
                    "type": "invalid_request_error",
                    "code": "charge_already_refunded",
                    "message": "Charge ch_1 has already been refunded.",
                }
            },
        ),
    )

    result = gateway.refund(provider_ref="pi_123", amount_cents=500, idempotency_key="r")

    assert (result.succeeded, result.failure_message) == (False, "Charge ch_1 has already been refunded.")


def test_a_failed_refund_status_is_a_failed_result(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply(
        "/v1/refunds",
        (
            200,
            {
                "id": "re_2",
                "object": "refund",
                "status": "failed",
                "failure_reason": "expired_or_canceled_card",
            },
        ),
    )

    result = gateway.refund(provider_ref="pi_123", amount_cents=500, idempotency_key="r")

    assert result.succeeded is False
    assert result.failure_message == "expired_or_canceled_card"


# --- webhooks -----------------------------------------------------------------------------------
def stripe_event(event_type: str, obj: dict[str, Any]) -> bytes:
    return json.dumps(
        {"id": "evt_1", "object": "event", "type": event_type, "created": 1, "data": {"object": obj}}
    ).encode()


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    # Computed the way Stripe documents it, independently of the SDK.
    t = int(time.time()) if timestamp is None else timestamp
    signature = hmac.new(secret.encode(), f"{t}.{payload.decode()}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={signature}"


@pytest.mark.parametrize(
    ("stripe_type", "obj", "expected"),
    [
        (
            "payment_intent.succeeded",
            intent(metadata={"payment_id": "7"}),
            (PAYMENT_SUCCEEDED, 7, "pi_123", 1999, "USD"),
        ),
        (
            "payment_intent.payment_failed",
            intent("requires_payment_method", metadata={"payment_id": "7"}),
            (PAYMENT_FAILED, 7, "pi_123", 1999, "USD"),
        ),
        (
            "charge.refunded",
            {
                "id": "ch_1",
                "object": "charge",
                "payment_intent": "pi_123",
                "amount": 1999,
                "amount_refunded": 500,
                "currency": "usd",
                "metadata": {},
            },
            (REFUND_SUCCEEDED, None, "pi_123", 500, "USD"),
        ),
        (
            "customer.created",
            {"id": "cus_1", "object": "customer"},
            ("customer.created", None, "cus_1", None, None),
        ),
    ],
)
def test_a_signed_stripe_webhook_is_mapped_to_a_normalised_event(
    gateway: StripeGateway, stripe_type: str, obj: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    payload = stripe_event(stripe_type, obj)

    event = gateway.parse_webhook(payload, {"Stripe-Signature": stripe_signature(payload)})

    assert event.id == "evt_1"
    assert (event.type, event.payment_id, event.provider_ref, event.amount_cents, event.currency) == expected


@pytest.mark.parametrize(
    "make_headers",
    [
        lambda payload: {"Stripe-Signature": stripe_signature(payload, secret="whsec_other")},
        lambda payload: {"Stripe-Signature": stripe_signature(b"{}")},
        lambda payload: {"Stripe-Signature": stripe_signature(payload, timestamp=int(time.time()) - 301)},
        lambda payload: {"Stripe-Signature": "t=abc,v1=def"},
        lambda payload: {"Stripe-Signature": "garbage"},
        lambda payload: {},
    ],
    ids=["wrong-secret", "other-body", "expired", "malformed", "garbage", "missing"],
)
def test_a_bad_stripe_signature_is_refused(
    gateway: StripeGateway, make_headers: Callable[[bytes], dict[str, str]]
) -> None:
    payload = stripe_event("payment_intent.succeeded", intent())

    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(payload, make_headers(payload))


# --- configuration ------------------------------------------------------------------------------
def test_make_gateway_builds_stripe_from_settings(fake: FakeStripe) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        PAYMENT_PROVIDER="stripe",
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake.url,
    )
    fake.reply("/v1/payment_intents", (200, intent()))

    gateway = make_gateway(settings, settings.PAYMENT_PROVIDER)

    assert gateway.name == "stripe"
    assert gateway.charge(
        payment_id=1, amount_cents=100, currency="USD", payment_method="pm", idempotency_key="k"
    ).succeeded
    assert fake.seen[0].headers["authorization"] == f"Bearer {API_KEY}"


def test_stripe_without_its_keys_is_refused_at_startup() -> None:
    with pytest.raises(ValueError, match="STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET must be set"):
        Settings(_env_file=None, PAYMENT_PROVIDER="stripe", STRIPE_SECRET_KEY=API_KEY)  # type: ignore[call-arg]


# --- finding a charge whose answer was lost -----------------------------------------------------
def _search(*intents: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "search_result",
        "data": list(intents),
        "has_more": False,
        "url": "/v1/payment_intents/search",
    }


def test_find_charge_searches_the_intent_by_its_key(fake: FakeStripe, gateway: StripeGateway) -> None:
    fake.reply("/v1/payment_intents/search", (200, _search(intent())))

    result = gateway.find_charge(payment_id=7, idempotency_key="shopwright-payment-7")

    assert result == ChargeResult(True, "pi_123", None, None)
    [request] = fake.seen
    assert (request.method, request.path) == ("GET", "/v1/payment_intents/search")
    assert request.form == {"query": "metadata['shopwright_key']:'shopwright-payment-7'", "limit": "1"}


def test_find_charge_tells_a_failed_an_unknown_and_a_processing_charge(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.reply(
        "/v1/payment_intents/search",
        (200, _search(intent("requires_payment_method"))),
        (200, _search()),
        (200, _search(intent("processing"))),
    )
    find = lambda: gateway.find_charge(payment_id=7, idempotency_key="k")  # noqa: E731

    failed = find()
    assert failed is not None
    assert (failed.succeeded, failed.failure_code) == (False, "requires_payment_method")
    assert find() is None
    with pytest.raises(PaymentProviderError):
        find()


def test_find_charge_when_stripe_is_down_is_a_provider_error(
    fake: FakeStripe, gateway: StripeGateway
) -> None:
    fake.reply("/v1/payment_intents/search", (500, {"error": {"type": "api_error", "message": "boom"}}))

    with pytest.raises(PaymentProviderError):
        gateway.find_charge(payment_id=7, idempotency_key="k")
