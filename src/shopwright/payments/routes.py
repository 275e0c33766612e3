"""HTTP routes of /api/payments: payment status (processing and provider webhooks join later)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_claims, current_user_id, login_required
from shopwright.db import get_session
from shopwright.payments import service
from shopwright.payments.gateway import PaymentGateway
from shopwright.payments.schemas import PaymentOut, PaymentPath

bp = APIBlueprint(
    "payments", __name__, url_prefix="/api/payments", abp_tags=[Tag(name="Payments")], abp_security=BEARER
)
Result = tuple[dict[str, Any], int] | dict[str, Any]


def current_gateway() -> PaymentGateway:
    """Return the app's configured payment gateway (PAYMENT_PROVIDER)."""
    gateway: PaymentGateway = current_app.extensions["shopwright.gateway"]
    return gateway


@bp.get("/<int:payment_id>", summary="Get a payment's status", responses={200: PaymentOut})
@login_required
def get_payment(path: PaymentPath) -> Result:
    # Admins see any payment; a customer only their own (another's answers 404, like a missing one).
    user_id = None if current_claims().get("role") == "admin" else current_user_id()
    payment = service.get_payment(get_session(), path.payment_id, user_id=user_id)
    return PaymentOut.model_validate(payment).model_dump(mode="json")
