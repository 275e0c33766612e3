"""Base schemas shared by every domain: strict inputs, ORM-backed outputs, list pages."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from shopwright.db import MAX_ID

T = TypeVar("T")

# A row id in a request body: ids are INTEGER columns, so a larger number names no row (and would overflow
# the driver); a path id is held to the same range by its URL converter (limits.AsciiIntConverter).
Id = Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


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


# An ISO 4217 currency code, upper-cased: money is integer minor units with its currency (docs/api.md).
Currency = Annotated[str, AfterValidator(_currency)]


def refuse_nul(value: Any) -> Any:
    """Return `value` unless a string in it (keys included) holds U+0000; raise ValueError then."""
    # PostgreSQL cannot store NUL in text (the driver raises, a 500) and SQLite would store it.
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain NUL characters (U+0000)")
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_nul(key)
            refuse_nul(item)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item)
    return value


class InputModel(BaseModel):
    """A request body (or path): unknown fields are refused so a typo never passes silently.

    No string may hold a NUL character: one rule for every field of every input, nested ones included.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    _no_nul = field_validator("*", mode="before")(refuse_nul)


class QueryModel(BaseModel):
    """Query-string parameters; the JSON schema is built once, not on every request.

    No value may hold a NUL character (see InputModel).
    """

    model_config = ConfigDict(extra="forbid")

    _no_nul = field_validator("*", mode="before")(refuse_nul)

    @classmethod
    @functools.cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # flask-openapi calls this on every request to read query parameters; the schema never changes.
        return super().model_json_schema(*args, **kwargs)


def _query_bool(value: Any) -> Any:
    # Pydantic would also take "yes", "on", "1", "t"...: the document says boolean, so "true" or "false".
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value


# A boolean query parameter: exactly `true` or `false`.
QueryBool = Annotated[bool, BeforeValidator(_query_bool)]


class OutputModel(BaseModel):
    """A response body built from ORM objects; every field is always sent, so the document requires it."""

    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    @classmethod
    def render(cls, value: Any) -> dict[str, Any]:
        """Return `value` (an object, a row, a mapping) as this model sends it: JSON-ready values."""
        return cls.model_validate(value).model_dump(mode="json")


class Page(BaseModel, Generic[T]):
    """A cursor-paginated list: `next_cursor` fetches the next page, null on the last one."""

    # from_attributes: renders a pagination.KeysetPage as it is.
    model_config = ConfigDict(from_attributes=True, json_schema_serialization_defaults_required=True)

    items: list[T]
    next_cursor: str | None = None


class NumberedPage(BaseModel, Generic[T]):
    """A page of a list read with `page` and `per_page`, and how many items match in all."""

    items: list[T]
    page: int
    per_page: int
    total: int


class ItemList(BaseModel, Generic[T]):
    """A whole list, not paginated."""

    model_config = ConfigDict(from_attributes=True)

    items: list[T]


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


class Health(BaseModel):
    """The service and its dependencies answer (`redis` only where Redis is configured)."""

    status: Literal["ok"]
    database: Literal["ok"]
    redis: Literal["ok"] | None = None


KEY_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII, no spaces


class IdempotencyHeader(BaseModel):
    """The optional `Idempotency-Key` header of retry-safe POSTs (docs/api.md, Idempotency keys)."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: Annotated[
        Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=KEY_PATTERN)] | None,
        # Documented as the string it is when sent: a header has no null.
        WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN}),
    ] = Field(
        default=None,
        alias="Idempotency-Key",
        description="Any unique string (a UUID is best). A retry with the same key and body gets the first "
        "response back; kept at least 24 hours.",
    )

    @classmethod
    @functools.cache
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        # flask-openapi reads it on every request (see QueryModel).
        return super().model_json_schema(*args, **kwargs)
