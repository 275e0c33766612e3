"""Cart request and response schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, model_validator

from shopwright.schemas import Id, InputModel, OutputModel, UTCTimestamp

MAX_LINE_QUANTITY = 100


class CartItemIn(InputModel):
    """Add a product (its default variant) or a specific variant to the cart."""

    product_id: Id | None = None
    variant_id: Id | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_LINE_QUANTITY)] = 1

    @model_validator(mode="after")
    def _one_target(self) -> CartItemIn:
        if (self.product_id is None) == (self.variant_id is None):
            raise ValueError("give exactly one of product_id or variant_id")
        return self


class CartItemUpdate(InputModel):
    """Set a line's quantity; 0 removes the line."""

    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_LINE_QUANTITY)]


class CartItemPath(InputModel):
    item_id: int


class CartLineOut(OutputModel):
    id: int
    product_id: int
    variant_id: int
    name: str
    variant_name: str
    sku: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    currency: str
    available: bool = Field(description="False once the product or variant is withdrawn; checkout refuses it")


class CartOut(OutputModel):
    id: int
    items: list[CartLineOut]
    saved_items: list[CartLineOut]
    subtotal_cents: int = Field(description="Sum of the available lines at current prices")
    currency: str
    item_count: int = Field(description="Units across the available lines")
    expires_at: UTCTimestamp = Field(description="When the reservations lapse unless the cart is changed")
