"""Order request and response schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from shopwright.accounts.schemas import (
    AddressExtraLine,
    AddressLine,
    City,
    CountryCode,
    FullName,
    Phone,
    PostalCode,
    Region,
)
from shopwright.cart.schemas import MAX_LINE_QUANTITY
from shopwright.orders.status import Status
from shopwright.schemas import Id, InputModel, LimitQuery, OutputModel, UTCTimestamp


class ShippingAddressIn(InputModel):
    full_name: FullName | None = None
    line1: AddressLine
    line2: AddressExtraLine | None = None
    city: City
    region: Region | None = None
    postal_code: PostalCode
    country: CountryCode
    phone: Phone | None = None


class OrderCreate(InputModel):
    """Check out the cart: a free-text address (as the seeds send it) or a structured one."""

    delivery_address: Annotated[str, StringConstraints(min_length=1, max_length=500)] | ShippingAddressIn
    voucher_code: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class OrderLineChange(InputModel):
    item_id: Id
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_LINE_QUANTITY)] = Field(
        description="0 removes the line"
    )


class OrderUpdate(InputModel):
    """Change line quantities of a pending order; stock follows atomically."""

    items: Annotated[list[OrderLineChange], Field(min_length=1, max_length=100)]

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[OrderLineChange]) -> list[OrderLineChange]:
        if len({item.item_id for item in items}) != len(items):
            raise ValueError("each item_id at most once")
        return items


class OrderStatusIn(InputModel):
    status: Status


class OrderPath(InputModel):
    order_id: int


class OrderQuery(LimitQuery):
    status: Status | None = None


class OrderItemOut(OutputModel):
    id: int
    product_id: int
    variant_id: int
    name: str
    variant_name: str
    sku: str
    unit_price_cents: int
    quantity: int
    line_total_cents: int


class OrderPaymentOut(OutputModel):
    id: int
    status: Literal["processing", "succeeded", "failed"]
    amount_cents: int
    refunded_cents: int
    currency: str
    provider: str
    created_at: UTCTimestamp


def _absent(value: object) -> bool:
    return value is None


# An optional field of a stored address: absent from the JSON when it was not given at checkout.
Given = Annotated[str | None, Field(exclude_if=_absent)]


class ShippingAddressOut(BaseModel):
    """A structured shipping address as given at checkout (optional fields appear when they were given)."""

    full_name: Given = None
    line1: str
    line2: Given = None
    city: str
    region: Given = None
    postal_code: str
    country: str
    phone: Given = None


class OrderOut(OutputModel):
    id: int
    user_id: int
    status: Status
    items: list[OrderItemOut]
    subtotal_cents: int
    discount_cents: int
    shipping_cents: int
    tax_cents: int
    total_cents: int
    currency: str
    voucher_code: str | None
    shipping_address: str | ShippingAddressOut
    created_at: UTCTimestamp
    updated_at: UTCTimestamp
    paid_at: UTCTimestamp | None
    shipped_at: UTCTimestamp | None
    delivered_at: UTCTimestamp | None
    cancelled_at: UTCTimestamp | None
    refunded_at: UTCTimestamp | None
    payments: list[OrderPaymentOut] = []
