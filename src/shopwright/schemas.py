"""Base schemas shared by every domain: strict inputs, ORM-backed outputs, list pages."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints

T = TypeVar("T")


def iso_utc(value: datetime) -> str:
    """Format a timestamp as the API sends it: ISO 8601 in UTC with a `Z` offset."""
    if value.tzinfo is not UTC:  # what the database hands back already is (db.UTCDateTime)
        value = value.astimezone(UTC)
    return value.isoformat().replace("+00:00", "Z")


# Timestamps leave the API as ISO 8601 in UTC with a `Z` offset.
UTCTimestamp = Annotated[datetime, PlainSerializer(iso_utc, return_type=str)]


def _currency(value: str) -> str:
    code = value.upper()
    if len(code) != 3 or pycountry.currencies.get(alpha_3=code) is None:
        raise ValueError("must be an ISO 4217 currency code, like 'USD' or 'EUR'")
    return code


# An ISO 4217 currency code, upper-cased: money is integer minor units with its currency (API.md).
Currency = Annotated[str, AfterValidator(_currency)]


class InputModel(BaseModel):
    """A request body: unknown fields are refused so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class QueryModel(BaseModel):
    """Query-string parameters; the JSON schema is built once, not on every request."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    @functools.cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # flask-openapi calls this per request to read query parameters (~285 µs); cache it.
        return super().model_json_schema(*args, **kwargs)


class OutputModel(BaseModel):
    """A response body built from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    """A cursor-paginated list."""

    items: list[T]
    next_cursor: str | None = None


class LimitQuery(QueryModel):
    """Cursor pagination parameters."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = None


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details body (Content-Type: application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None


class Message(BaseModel):
    """A plain acknowledgement."""

    detail: str


class IdempotencyHeader(BaseModel):
    """The optional `Idempotency-Key` header of retry-safe POSTs (API.md, Retry safety)."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")] | None
    ) = Field(
        default=None,
        description="Any unique string (a UUID is best). A retry with the same key and body gets the first "
        "response back; kept at least 24 hours.",
    )

    @classmethod
    @functools.cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # flask-openapi reads it on every request (see QueryModel).
        return super().model_json_schema(*args, **kwargs)
