"""The payment provider boundary: the `PaymentGateway` protocol, the built-in test gateway and Stripe.

Gateways never touch the database. A call that reaches a provider can take seconds, so callers make it
outside any transaction and record the result afterwards (`service.record_charge`, `service.finish_refund`).
`PaymentProviderError` means the outcome is unknown (network, provider outage): the payment stays
`processing` until the provider's webhook settles it, or the reconciliation sweep asks `find_charge`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import stripe

from shopwright.config import Settings
from shopwright.payments.errors import InvalidSignature, PaymentProviderError, UnknownPaymentProvider

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
REFUND_SUCCEEDED = "refund.succeeded"
SIGNATURE_HEADER = "Shopwright-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    provider_ref: str | None
    failure_code: str | None = None
    failure_message: str | None = None


@dataclass(frozen=True)
class RefundResult:
    succeeded: bool
    provider_ref: str | None
    failure_message: str | None = None


@dataclass(frozen=True)
class GatewayEvent:
    """A verified provider webhook; `type` is normalised (PAYMENT_SUCCEEDED, …) or the provider's own."""

    id: str
    type: str
    payment_id: int | None
    provider_ref: str | None
    amount_cents: int | None
    currency: str | None


class PaymentGateway(Protocol):
    name: str

    def charge(
        self, *, payment_id: int, amount_cents: int, currency: str, payment_method: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge a payment method; a decline is a result, an unknown outcome raises PaymentProviderError."""
        ...

    def refund(self, *, provider_ref: str, amount_cents: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a charge; an unknown outcome raises PaymentProviderError."""
        ...

    def find_charge(self, *, payment_id: int, idempotency_key: str) -> ChargeResult | None:
        """Return how the charge made with this key ended, None if the provider has no such charge.

        Raises PaymentProviderError when the provider cannot tell yet (unreachable, still processing).
        """
        ...

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify a webhook's signature and return its event, or raise InvalidSignature."""
        ...


def make_gateway(settings: Settings, provider: str) -> PaymentGateway:
    """Return the gateway for a provider name, or raise UnknownPaymentProvider if it is not configured."""
    if provider == "test":
        return TestGateway(settings.PAYMENT_WEBHOOK_SECRET)
    if provider == "stripe" and settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET:
        return StripeGateway(
            settings.STRIPE_SECRET_KEY, settings.STRIPE_WEBHOOK_SECRET, api_base=settings.STRIPE_API_BASE
        )
    raise UnknownPaymentProvider(f"No payment provider {provider!r} is configured")


# --- the built-in test gateway ------------------------------------------------------------------
_DECLINES = {"tok_chargeDeclined": "card_declined", "tok_insufficientFunds": "insufficient_funds"}
_SUCCEEDS = {"tok_visa", "tok_refundFails"}
_REMEMBERED = 10_000  # idempotency replays kept per process; a long-running dev server stays bounded


def sign_webhook(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """Return the `Shopwright-Signature` header value for a test-gateway webhook body."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_hmac(secret, t, payload)}"


def _hmac(secret: str, timestamp: int, payload: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


class TestGateway:
    """A stand-in for a card provider: fixed tokens decide the outcome; no network, no money."""

    __test__ = False  # not a pytest test class, despite its name
    name = "test"

    def __init__(self, webhook_secret: str) -> None:
        self._secret = webhook_secret
        self._lock = threading.Lock()
        self._replies: OrderedDict[str, ChargeResult | RefundResult] = OrderedDict()
        self._refund_fails: set[str] = set()

    def charge(
        self, *, payment_id: int, amount_cents: int, currency: str, payment_method: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge a test token: tok_visa succeeds, tok_chargeDeclined / tok_insufficientFunds decline."""
        with self._lock:
            replay = self._replies.get(f"charge:{idempotency_key}")
            if isinstance(replay, ChargeResult):
                return replay
            if payment_method in _SUCCEEDS:
                result = ChargeResult(True, f"test_ch_{uuid.uuid4().hex}")
                if payment_method == "tok_refundFails":
                    self._refund_fails.add(str(result.provider_ref))
            else:
                code = _DECLINES.get(payment_method, "invalid_payment_method")
                result = ChargeResult(False, None, code, f"Test charge refused: {code}")
            self._remember(f"charge:{idempotency_key}", result)
            return result

    def refund(self, *, provider_ref: str, amount_cents: int, idempotency_key: str) -> RefundResult:
        """Refund a test charge: it succeeds, unless the charge was made with tok_refundFails."""
        with self._lock:
            replay = self._replies.get(f"refund:{idempotency_key}")
            if isinstance(replay, RefundResult):
                return replay
            if provider_ref in self._refund_fails:
                result = RefundResult(False, None, "Test refund refused (tok_refundFails)")
            else:
                result = RefundResult(True, f"test_re_{uuid.uuid4().hex}")
            self._remember(f"refund:{idempotency_key}", result)
            return result

    def find_charge(self, *, payment_id: int, idempotency_key: str) -> ChargeResult | None:
        """Return the charge this process made with the key (the test provider keeps no other records)."""
        with self._lock:
            found = self._replies.get(f"charge:{idempotency_key}")
        return found if isinstance(found, ChargeResult) else None

    def _remember(self, key: str, result: ChargeResult | RefundResult) -> None:
        self._replies[key] = result
        while len(self._replies) > _REMEMBERED:
            self._replies.popitem(last=False)

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify the `Shopwright-Signature` header (HMAC-SHA256, 300 s tolerance) and parse the event."""
        timestamp, signatures = _parse_signature(_header(headers, SIGNATURE_HEADER))
        if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
            raise InvalidSignature("The webhook timestamp is outside the 300 s tolerance")
        expected = _hmac(self._secret, timestamp, payload)
        # compare_digest: the time taken must not tell an attacker how much of a forged signature matched.
        if not any(hmac.compare_digest(expected, signature) for signature in signatures):
            raise InvalidSignature("The webhook signature does not match its body")
        return _test_event(payload)


def _header(headers: Mapping[str, str], name: str) -> str:
    # Header names are case-insensitive; a plain dict (tests, queues) is not.
    value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    if not value:
        raise InvalidSignature(f"The {name} header is missing")
    return value


def _parse_signature(header: str) -> tuple[int, list[str]]:
    pairs = [part.strip().partition("=") for part in header.split(",")]
    timestamps = [value for key, _, value in pairs if key == "t"]
    signatures = [value for key, _, value in pairs if key == "v1" and value]
    if len(timestamps) != 1 or not _is_number(timestamps[0]) or not signatures:
        raise InvalidSignature(f"The {SIGNATURE_HEADER} header is malformed: expected t=<unix time>,v1=<hex>")
    return int(timestamps[0]), signatures


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 18


def _test_event(payload: bytes) -> GatewayEvent:
    try:
        body = json.loads(payload)
        data = body.get("data", {})
        event = GatewayEvent(
            id=body["id"],
            type=body["type"],
            payment_id=data.get("payment_id"),
            provider_ref=data.get("provider_ref"),
            amount_cents=data.get("amount_cents"),
            currency=data.get("currency"),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise InvalidSignature("The webhook is signed but is not a valid event") from error
    return _checked(event)


def _checked(event: GatewayEvent) -> GatewayEvent:
    """Return the event if its fields have the declared types and fit the database's columns."""
    ints_ok = all(
        value is None or (type(value) is int and 0 < value < 2**63)
        for value in (event.payment_id, event.amount_cents)
    )
    # Strings reach the database: PostgreSQL cannot store NUL in text (the driver would raise).
    strs_ok = all(
        value is None or (isinstance(value, str) and "\x00" not in value)
        for value in (event.id, event.type, event.provider_ref, event.currency)
    )
    if not (ints_ok and strs_ok and isinstance(event.id, str) and isinstance(event.type, str)):
        raise InvalidSignature("The webhook is signed but is not a valid event")
    if not (0 < len(event.id) <= 255 and 0 < len(event.type) <= 100):
        raise InvalidSignature("The webhook is signed but is not a valid event")
    currency = event.currency.upper() if event.currency else None
    return GatewayEvent(
        event.id, event.type, event.payment_id, event.provider_ref, event.amount_cents, currency
    )


# --- Stripe ------------------------------------------------------------------------------------
_STRIPE_TYPES = {
    "payment_intent.succeeded": PAYMENT_SUCCEEDED,
    "payment_intent.payment_failed": PAYMENT_FAILED,
    "charge.refunded": REFUND_SUCCEEDED,
}


class StripeGateway:
    """Stripe PaymentIntents through a client of this instance's own (never the SDK's global config)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        *,
        timeout_seconds: float = 20,
        max_network_retries: int = 2,
    ) -> None:
        self._secret = webhook_secret
        # Retries are safe: every POST carries an idempotency key. The SDK's default timeout is 80 s.
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_seconds),
        )

    def charge(
        self, *, payment_id: int, amount_cents: int, currency: str, payment_method: str, idempotency_key: str
    ) -> ChargeResult:
        """Create and confirm a PaymentIntent; a card error is a declined result."""
        try:
            intent = self._client.v1.payment_intents.create(
                params={
                    "amount": amount_cents,
                    "currency": currency.lower(),
                    "payment_method": payment_method,
                    "confirm": True,
                    # The API cannot send a customer through a redirect: only methods that need none.
                    "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
                    # find_charge looks the intent up by the key when this call's answer is lost.
                    "metadata": {"payment_id": str(payment_id), "shopwright_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as error:
            code = (error.error.decline_code if error.error else None) or error.code or "card_declined"
            return ChargeResult(False, _intent_id(error), code, error.user_message)
        except stripe.InvalidRequestError as error:  # e.g. an unknown payment method token: nothing charged
            return ChargeResult(False, _intent_id(error), error.code or "invalid_request", error.user_message)
        except stripe.StripeError as error:
            raise _provider_error(error) from error
        return _intent_result(intent)

    def find_charge(self, *, payment_id: int, idempotency_key: str) -> ChargeResult | None:
        """Search the PaymentIntent created with this key (Stripe's search lags by up to a minute)."""
        try:
            found = self._client.v1.payment_intents.search(
                params={"query": f"metadata['shopwright_key']:'{idempotency_key}'", "limit": 1}
            )
        except stripe.StripeError as error:
            raise _provider_error(error) from error
        return _intent_result(found.data[0]) if found.data else None

    def refund(self, *, provider_ref: str, amount_cents: int, idempotency_key: str) -> RefundResult:
        """Refund part or all of a PaymentIntent; a pending refund counts as accepted."""
        try:
            refund = self._client.v1.refunds.create(
                params={"payment_intent": provider_ref, "amount": amount_cents},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as error:  # e.g. already fully refunded, or disputed
            return RefundResult(False, None, error.user_message)
        except stripe.StripeError as error:
            raise _provider_error(error) from error
        if refund.status in ("succeeded", "pending"):
            return RefundResult(True, refund.id)
        return RefundResult(False, refund.id, refund.failure_reason or f"Refund {refund.status}")

    def parse_webhook(self, payload: bytes, headers: Mapping[str, str]) -> GatewayEvent:
        """Verify the `Stripe-Signature` header and map the event to a normalised type."""
        try:
            event = self._client.construct_event(payload, _header(headers, "Stripe-Signature"), self._secret)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidSignature("The Stripe webhook signature does not verify") from error
        obj: dict[str, Any] = event.data.object.to_dict()
        payment_id = str((obj.get("metadata") or {}).get("payment_id") or "")
        return _checked(
            GatewayEvent(
                id=event.id,
                type=_STRIPE_TYPES.get(event.type, event.type),
                payment_id=int(payment_id) if _is_number(payment_id) else None,
                provider_ref=obj.get("payment_intent") if obj.get("object") == "charge" else obj.get("id"),
                amount_cents=obj.get("amount_refunded")
                if event.type == "charge.refunded"
                else obj.get("amount"),
                currency=obj.get("currency"),
            )
        )


def _intent_result(intent: Any) -> ChargeResult:
    if intent.status == "succeeded":
        return ChargeResult(True, intent.id)
    if intent.status == "processing":  # the webhook will tell how it ends
        raise PaymentProviderError("The payment is still processing at Stripe")
    code = "authentication_required" if intent.status == "requires_action" else intent.status
    return ChargeResult(False, intent.id, code, f"Stripe left the payment in status {intent.status}")


def _intent_id(error: stripe.StripeError) -> str | None:
    intent = error.error.payment_intent if error.error else None
    return intent.id if intent is not None else None


def _provider_error(error: stripe.StripeError) -> PaymentProviderError:
    # No provider detail reaches the client: it may name our account or request internals.
    status = f"HTTP {error.http_status}" if error.http_status else "no answer"
    return PaymentProviderError(f"Stripe did not complete the request ({status}); try again shortly")
