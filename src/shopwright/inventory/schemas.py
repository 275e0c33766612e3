"""Inventory request and response schemas (admin stock)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictInt, model_validator

from shopwright.catalog.schemas import MAX_STOCK
from shopwright.inventory.models import REASONS
from shopwright.schemas import InputModel, LimitQuery, OutputModel, QueryBool, UTCTimestamp


class StockQuery(LimitQuery):
    low_stock: QueryBool = Field(
        default=False, description="Only variants with at most `threshold` units available"
    )
    threshold: int = Field(default=5, ge=0, le=MAX_STOCK)


class StockUpdate(InputModel):
    """Set the stock to `quantity`, or change it by `delta`; never below what carts reserve."""

    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)] | None = None
    delta: Annotated[StrictInt, Field(ge=-MAX_STOCK, le=MAX_STOCK)] | None = None

    @model_validator(mode="after")
    def _one_change(self) -> StockUpdate:
        if (self.quantity is None) == (self.delta is None):
            raise ValueError("give exactly one of quantity or delta")
        return self


class StockPath(InputModel):
    variant_id: int


class StockOut(OutputModel):
    variant_id: int
    product_id: int
    sku: str
    product_name: str
    variant_name: str
    quantity: int
    reserved: int
    available: int


class MovementOut(OutputModel):
    """One change of a variant's quantity on hand."""

    id: int
    variant_id: int
    delta: int = Field(description="Units added (positive) or taken (negative)")
    quantity_after: int = Field(description="The quantity on hand this change left")
    reason: str = Field(description=f"Why: one of {', '.join(REASONS)}")
    actor_id: int | None = Field(description="The user who made the change; null for the system")
    order_id: int | None = Field(description="The order it belongs to (sale, edit, cancellation)")
    created_at: UTCTimestamp


class ImportResultOut(OutputModel):
    """What a product import did, in rows of the file."""

    created: int = Field(description="Rows whose SKU was new: a product with one default variant")
    updated: int = Field(description="Rows that changed a product, its variant or its stock")
    unchanged: int = Field(description="Rows that matched what was stored")
    categories_created: int = Field(description="Categories of the rows' paths that did not exist")
