"""Payment request and response schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, StringConstraints

from shopwright.schemas import Id, InputModel, OutputModel, UTCTimestamp

# Money is BIGINT minor units; anything larger cannot be a real amount and must not reach the driver.
MAX_AMOUNT_CENTS = 2**63 - 1


class PaymentProcessIn(InputModel):
    """Pay an order with a payment method token (the test provider takes `tok_visa`, …)."""

    order_id: Id
    payment_method: Annotated[str, StringConstraints(min_length=1, max_length=100)]


class RefundIn(InputModel):
    """Refund a payment: `amount_cents` omitted refunds what is left of it."""

    amount_cents: Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT_CENTS)] | None = None
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


class PaymentPath(InputModel):
    payment_id: int


class PaymentOut(OutputModel):
    id: int
    order_id: int
    status: str = Field(description="processing, succeeded or failed")
    amount_cents: int
    currency: str
    provider: str
    refunded_cents: int
    failure_code: str | None = Field(description="Why a failed payment failed, e.g. card_declined")
    created_at: UTCTimestamp


class RefundOut(OutputModel):
    id: int
    payment_id: int
    status: str = Field(description="pending, succeeded or failed")
    amount_cents: int
    reason: str
    created_at: UTCTimestamp
