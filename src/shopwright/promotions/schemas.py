"""Promotions request and response schemas: vouchers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from shopwright.db import MAX_ID
from shopwright.schemas import Currency, InputModel, LimitQuery, OutputModel, QueryBool, UTCTimestamp

MAX_CENTS = 10**12  # as for catalog prices: far above any real amount, well inside BIGINT
_ISO_8601 = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _upper(value: str) -> str:
    return value.upper()


def _iso_text(value: object) -> object:
    # Lax Pydantic would also read 1700000000 or "1700000000" as a Unix time; the API takes ISO 8601 only.
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_8601.match(value)):
        return value
    raise ValueError("must be an ISO 8601 timestamp with an offset, like '2026-11-23T06:11:05Z'")


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as error:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC equivalent
        raise ValueError("is out of range") from error


Code = Annotated[
    str,
    StringConstraints(min_length=3, max_length=40, pattern=r"^[A-Za-z0-9_-]+$"),
    AfterValidator(_upper),
]
Description = Annotated[str, StringConstraints(max_length=200)]
PercentOff = Annotated[StrictInt, Field(ge=1, le=100)]
AmountOff = Annotated[StrictInt, Field(ge=1, le=MAX_CENTS)]
MinSubtotal = Annotated[StrictInt, Field(ge=0, le=MAX_CENTS)]
Limit = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]  # INTEGER columns
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_as_utc)]
Kind = Literal["percent", "fixed"]


class VoucherCreate(InputModel):
    """A percent voucher (`percent_off`, any currency) or a fixed one (`amount_off_cents` in `currency`)."""

    code: Code = Field(description="3-40 letters, digits, '_' or '-'; stored upper-case, unique in any case")
    description: Description = ""
    kind: Kind
    percent_off: PercentOff | None = None
    amount_off_cents: AmountOff | None = None
    currency: Currency | None = Field(default=None, description="Fixed vouchers only: the order currency")
    min_subtotal_cents: MinSubtotal = 0
    usage_limit: Limit | None = Field(default=None, description="Uses across all customers; null: no limit")
    per_customer_limit: Limit | None = Field(default=None, description="Uses per customer; null: no limit")
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = Field(default=None, description="Exclusive; must be after starts_at")
    is_active: StrictBool = True

    @model_validator(mode="after")
    def _consistent(self) -> VoucherCreate:
        if self.kind == "percent":
            if self.percent_off is None:
                raise ValueError("a percent voucher needs percent_off")
            if self.amount_off_cents is not None or self.currency is not None:
                raise ValueError("a percent voucher takes no amount_off_cents or currency (it fits any)")
        else:
            if self.amount_off_cents is None or self.currency is None:
                raise ValueError("a fixed voucher needs amount_off_cents and currency")
            if self.percent_off is not None:
                raise ValueError("a fixed voucher takes no percent_off")
        _check_window(self.starts_at, self.ends_at)
        return self


class VoucherUpdate(InputModel):
    """Fields to change; the result must be a valid voucher. A new `kind` needs its own value fields."""

    code: Code | None = None
    description: Description | None = None
    kind: Kind | None = None
    percent_off: PercentOff | None = None
    amount_off_cents: AmountOff | None = None
    currency: Currency | None = None
    min_subtotal_cents: MinSubtotal | None = None
    usage_limit: Limit | None = Field(default=None, description="null removes the limit")
    per_customer_limit: Limit | None = Field(default=None, description="null removes the limit")
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    is_active: StrictBool | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VoucherUpdate:
        if self.percent_off is not None and self.amount_off_cents is not None:
            raise ValueError("give percent_off or amount_off_cents, not both")
        _check_window(self.starts_at, self.ends_at)
        return self


def _check_window(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")


class VoucherOut(OutputModel):
    id: int
    code: str
    description: str
    kind: str
    percent_off: int | None
    amount_off_cents: int | None
    currency: str | None = Field(description="The currency of a fixed voucher; null for percent vouchers")
    min_subtotal_cents: int
    usage_limit: int | None
    per_customer_limit: int | None
    used_count: int = Field(description="Uses by orders that are not cancelled")
    starts_at: UTCTimestamp | None
    ends_at: UTCTimestamp | None
    is_active: bool
    created_at: UTCTimestamp
    updated_at: UTCTimestamp

    @model_validator(mode="after")
    def _no_currency_for_percent(self) -> VoucherOut:
        # The column is NOT NULL (default USD), but a percent voucher applies to every currency.
        if self.kind == "percent":
            self.currency = None
        return self


class VoucherPath(InputModel):
    voucher_id: int


class VoucherQuery(LimitQuery):
    active: QueryBool | None = Field(
        default=None, description="Only active (true) or inactive (false) vouchers"
    )
