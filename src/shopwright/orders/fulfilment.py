"""Admin status changes: cancel and refund run their whole use cases, the other moves follow the machine."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shopwright.orders import cancellation, service
from shopwright.orders.models import Order
from shopwright.orders.status import CANCELLED, REFUNDED
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import PaymentGateway


def change_status(session: Session, gateway: PaymentGateway, order_id: int, target: str) -> Order:
    """Move an order to `target` as an admin; 409 invalid_transition when the status machine forbids it."""
    if target == CANCELLED:
        return cancellation.cancel_order(session, gateway, order_id, user_id=None)
    if target == REFUNDED:
        order, refund = cancellation.refund_order(
            session, gateway, order_id, amount_cents=None, reason="refunded by an admin"
        )
        if refund.status == "pending":  # reserved in full, so a retry cannot refund again (nothing left)
            raise PaymentProviderError(
                f"The payment provider did not answer; refund {refund.id} stays pending and is sent again"
                " automatically, after which the order is refunded"
            )
        return order
    return service.advance_status(session, order_id, target)
