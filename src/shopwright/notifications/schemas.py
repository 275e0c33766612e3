"""Outgoing webhook request and response schemas (admin)."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StrictBool, StringConstraints

from shopwright.schemas import InputModel, LimitQuery, OutputModel, UTCTimestamp

EventType = Literal[
    "order.created",
    "order.paid",
    "order.shipped",
    "order.delivered",
    "order.cancelled",
    "order.refunded",
    "product.created",
    "product.updated",
    "product.deleted",
    "inventory.low_stock",
]


def _well_formed_url(value: str) -> str:
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as error:
        raise ValueError(f"must be a valid URL ({error})") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https URL, like https://erp.example.com/hooks/shopwright")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not carry credentials; verify the signature instead")
    if port == 0 or any(ch.isspace() for ch in value):
        raise ValueError("must be a valid URL")
    return value


WebhookUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_well_formed_url)
]
EventList = Annotated[list[EventType], Field(min_length=1, max_length=10)]
Description = Annotated[str, StringConstraints(max_length=500)]


class WebhookCreate(InputModel):
    """A receiver of outgoing webhooks: its URL and the event types it wants."""

    url: WebhookUrl
    events: EventList
    description: Description | None = None


class WebhookUpdate(InputModel):
    url: WebhookUrl | None = None
    events: EventList | None = None
    description: Description | None = None
    is_active: StrictBool | None = None


class WebhookPath(InputModel):
    webhook_id: int


class DeliveryPath(InputModel):
    webhook_id: int
    delivery_id: int


class WebhookOut(OutputModel):
    id: int
    url: str
    events: list[str]
    description: str | None
    is_active: bool
    failing_since: UTCTimestamp | None
    disabled_at: UTCTimestamp | None
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class WebhookWithSecret(WebhookOut):
    """An endpoint with its signing secret: answered only on creation and rotation."""

    secret: str


class DeliveryOut(OutputModel):
    id: int
    event_id: int
    type: str
    status: Literal["pending", "sending", "succeeded", "failed"]
    attempts: int
    response_code: int | None
    last_error: str | None
    next_attempt_at: UTCTimestamp | None
    created_at: UTCTimestamp


class DeliveryQuery(LimitQuery):
    pass
