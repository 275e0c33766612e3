"""What every routes.py shares at the web edge: answers from output models, idempotent requests, the app's
configured collaborators (payment gateway, pricing and cart rules).

Services never see these: a route turns a request into plain values, calls one use case and answers with
`respond(Schema, result)`. See docs/architecture.md.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.auth import current_user_id
from shopwright.cart.service import CartRules
from shopwright.db import get_settings
from shopwright.errors import PROBLEM_MEDIA_TYPE
from shopwright.idempotency import KeyedRequest, StoredResponse
from shopwright.orders.pricing import PricingRules
from shopwright.payments.gateway import PaymentGateway
from shopwright.schemas import IdempotencyHeader

# What a view returns: a body (with its status, and headers for stored problems), or a whole Response.
Result = dict[str, Any] | tuple[Any, int] | tuple[Any, int, dict[str, str]] | Response


def respond(schema: type[BaseModel], value: Any, status: int = 200) -> tuple[dict[str, Any], int]:
    """Answer `value` (an object, a row, a dataclass, a mapping) as `schema` renders it."""
    return schema.model_validate(value).model_dump(mode="json"), status


def no_content() -> tuple[str, int]:
    """Answer 204 with no body."""
    return "", 204


def keyed_request(header: IdempotencyHeader, body: BaseModel | None = None) -> KeyedRequest | None:
    """Return the request's idempotency identity (user, key, what was asked), or None without a key."""
    if header.idempotency_key is None:
        return None
    asked = body.model_dump(mode="json") if body is not None else None
    return KeyedRequest.of(current_user_id(), header.idempotency_key, request.method, request.path, asked)


def stored_result(response: StoredResponse) -> Result:
    """Answer what an idempotent use case answered (or stored), problems with their media type."""
    if response.status >= 400:
        return response.body, response.status, {"Content-Type": PROBLEM_MEDIA_TYPE}
    return response.body, response.status


def current_gateway() -> PaymentGateway:
    """Return the app's configured payment gateway (PAYMENT_PROVIDER)."""
    gateway: PaymentGateway = current_app.extensions["shopwright.gateway"]
    return gateway


def pricing_rules() -> PricingRules:
    """Return the shop's shipping and tax rules (settings)."""
    return PricingRules.from_settings(get_settings())


def cart_rules() -> CartRules:
    """Return how long, and how much of it, a cart may hold stock (CART_* settings)."""
    return CartRules.from_settings(get_settings())


def read_sessions() -> sessionmaker[Session]:
    """Return the app's session factory for reads, for work that outlives the request (a streamed answer)."""
    factory: sessionmaker[Session] = current_app.extensions["shopwright.read_sessions"]
    return factory
