"""Report query windows and answers."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from shopwright.schemas import OutputModel, QueryModel

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    # Exactly YYYY-MM-DD: Pydantic alone would also take a timestamp or a number of seconds.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO date, YYYY-MM-DD")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


class WindowQuery(QueryModel):
    """A window of UTC days, both ends inclusive; either end may be left open."""

    from_: IsoDate | None = Field(
        default=None, alias="from", description="First day (UTC, inclusive), YYYY-MM-DD"
    )
    to: IsoDate | None = Field(default=None, description="Last day (UTC, inclusive), YYYY-MM-DD")

    @model_validator(mode="after")
    def _ordered(self) -> WindowQuery:
        if self.from_ is not None and self.to is not None and self.from_ > self.to:
            raise ValueError("`from` must not be after `to`")
        return self


class ProductSalesQuery(WindowQuery):
    limit: int = Field(default=100, ge=1, le=1000, description="How many products, best first")


class DashboardQuery(WindowQuery):
    low_stock_threshold: int = Field(
        default=5, ge=0, le=1_000_000, description="Variants with at most this many units available"
    )


class ProfitOut(OutputModel):
    revenue_cents: int = Field(description="Goods sold minus discounts minus refunds")
    cost_cents: int = Field(description="Unit cost snapshotted at checkout times quantity")
    profit_cents: int
    orders: int = Field(description="Orders counted (paid, shipped or delivered, paid in the window)")


class ProductSalesOut(OutputModel):
    product_id: int
    name: str
    units: int
    revenue_cents: int
    units_percent: float = Field(description="Share of the window's units, in percent (2 decimals)")
    revenue_percent: float = Field(description="Share of the window's revenue, in percent (2 decimals)")


class CategorySalesOut(OutputModel):
    category_id: int | None = Field(description="null: products without a category")
    parent_id: int | None
    name: str | None
    units: int
    revenue_cents: int
    revenue_percent: float


class ProductSalesList(OutputModel):
    items: list[ProductSalesOut]


class CategorySalesList(OutputModel):
    items: list[CategorySalesOut]


class DaySalesOut(OutputModel):
    date: dt.date
    revenue_cents: int
    orders: int


class LowStockOut(OutputModel):
    variant_id: int
    product_id: int
    sku: str
    product_name: str
    available: int


class DashboardOut(OutputModel):
    revenue_cents: int
    orders_by_status: dict[str, int] = Field(description="Orders placed in the window, per status")
    average_order_value_cents: int
    customers: int = Field(description="Distinct customers with a counted order in the window")
    top_products: list[ProductSalesOut]
    revenue_by_day: list[DaySalesOut]
    low_stock: list[LowStockOut]
