"""HTTP routes of /api/payments: paying an order, payment status, provider webhooks."""

from __future__ import annotations

from flask import request
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_claims, current_user_id, login_required
from shopwright.db import get_session
from shopwright.orders.payment import handle_gateway_event, pay_order
from shopwright.payments import service
from shopwright.payments.errors import UnknownPaymentProvider
from shopwright.payments.schemas import PaymentOut, PaymentPath, PaymentProcessIn
from shopwright.schemas import IdempotencyHeader, InputModel, Message
from shopwright.web import Result, current_gateway, keyed_request, respond, stored_result

bp = APIBlueprint(
    "payments", __name__, url_prefix="/api/payments", abp_tags=[Tag(name="Payments")], abp_security=BEARER
)


@bp.get(
    "/<int:payment_id>",
    summary="Get a payment's status",
    operation_id="getPayment",
    responses={200: PaymentOut},
)
@login_required
def get_payment(path: PaymentPath) -> Result:
    # Admins see any payment; a customer only their own (another's answers 404, like a missing one).
    user_id = None if current_claims().get("role") == "admin" else current_user_id()
    return respond(PaymentOut, service.get_payment(get_session(), path.payment_id, user_id=user_id))


class ProviderPath(InputModel):
    provider: str


@bp.post(
    "/process",
    summary="Pay a pending order; 402 card_declined leaves it pending (Idempotency-Key honoured)",
    operation_id="processPayment",
    responses={200: PaymentOut},
)
@login_required
def process_payment(header: IdempotencyHeader, body: PaymentProcessIn) -> Result:
    # orders orchestrates the payment (payments sits below it): this edge route calls its use case.
    keyed = keyed_request(header, body)
    session, user_id = get_session(), current_user_id()
    response = pay_order(session, current_gateway(), user_id, body.order_id, body.payment_method, keyed=keyed)
    return stored_result(response)


@bp.post(
    "/webhooks/<provider>",
    summary="Receive a payment provider's signed event (idempotent by event id)",
    operation_id="receivePaymentWebhook",
    responses={200: Message},
    security=[],
)
def receive_webhook(path: ProviderPath) -> Result:
    gateway = current_gateway()
    if path.provider != gateway.name:
        raise UnknownPaymentProvider(f"No payment provider {path.provider!r} is configured here")
    event = gateway.parse_webhook(request.get_data(), dict(request.headers))
    handle_gateway_event(get_session(), gateway, event)
    return {"detail": "Received"}
