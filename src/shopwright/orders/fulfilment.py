"""Admin status changes: cancel and refund run their whole use cases, the other moves follow the machine."""

from __future__ import annotations

from sqlalchemy.orm import Session

from shopwright.orders import cancellation, service
from shopwright.orders.status import CANCELLED, REFUNDED
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import PaymentGateway


def change_status(
    session: Session, gateway: PaymentGateway, order_id: int, target: str, *, actor_id: int | None = None
) -> None:
    """Move an order to `target` as an admin; 409 invalid_transition when the status machine forbids it."""
    if target == CANCELLED:
        cancellation.cancel_order(session, gateway, order_id, user_id=None, actor_id=actor_id)
    elif target == REFUNDED:
        answer = cancellation.refund_order(
            session, gateway, order_id, amount_cents=None, reason="refunded by an admin"
        )
        if answer.status == 202:  # reserved in full, so a retry cannot refund again (nothing left)
            raise PaymentProviderError(
                "The payment provider did not answer; the refund stays pending and is sent again"
                " automatically, after which the order is refunded"
            )
    else:
        service.advance_status(session, order_id, target)
