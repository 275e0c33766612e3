"""HTTP routes of /api/orders: checkout, history, detail, edits while pending, cancellation."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_user_id, login_required
from shopwright.db import get_session, get_settings
from shopwright.errors import PROBLEM_MEDIA_TYPE
from shopwright.idempotency import KeyedRequest, StoredResponse
from shopwright.orders import cancellation, checkout, edits, service
from shopwright.orders.models import Order
from shopwright.orders.pricing import PricingRules
from shopwright.orders.schemas import OrderCreate, OrderOut, OrderPath, OrderPaymentOut, OrderUpdate
from shopwright.payments.gateway import PaymentGateway
from shopwright.payments.models import Payment
from shopwright.schemas import IdempotencyHeader, LimitQuery, Page

bp = APIBlueprint(
    "orders", __name__, url_prefix="/api/orders", abp_tags=[Tag(name="Orders")], abp_security=BEARER
)
Result = tuple[dict[str, Any], int, dict[str, str]] | tuple[dict[str, Any], int] | dict[str, Any]


def render_order(
    order: Order | checkout.PlacedOrder, payments: list[Payment] | None = None
) -> dict[str, Any]:
    """Serialise an order (lines loaded) with its payment attempts."""
    out = OrderOut.model_validate(order).model_dump(mode="json", exclude={"payments"})
    out["payments"] = [OrderPaymentOut.model_validate(p).model_dump(mode="json") for p in payments or []]
    return out


def keyed_request(header: IdempotencyHeader, body: Any) -> KeyedRequest | None:
    """Return the request's idempotency identity, or None without an Idempotency-Key header."""
    if header.idempotency_key is None:
        return None
    return KeyedRequest.of(current_user_id(), header.idempotency_key, request.method, request.path, body)


def stored_result(response: StoredResponse) -> Result:
    """Turn a stored (or fresh) response into a view result, problems with their media type."""
    if response.status >= 400:
        return response.body, response.status, {"Content-Type": PROBLEM_MEDIA_TYPE}
    return response.body, response.status


def current_gateway() -> PaymentGateway:
    """Return the app's configured payment gateway (PAYMENT_PROVIDER)."""
    gateway: PaymentGateway = current_app.extensions["shopwright.gateway"]
    return gateway


def _rules() -> PricingRules:
    return PricingRules.from_settings(get_settings())


def order_out(order: Order) -> dict[str, Any]:
    """Serialise one order with its payment attempts (one more query)."""
    return render_order(order, service.payments_of(get_session(), [order]).get(order.id, []))


@bp.post(
    "",
    summary="Check out the cart into a pending order (Idempotency-Key honoured)",
    operation_id="placeOrder",
    responses={201: OrderOut},
)
@login_required
def place_order(header: IdempotencyHeader, body: OrderCreate) -> Result:
    keyed = keyed_request(header, body.model_dump(mode="json"))
    response = checkout.place_order(
        get_session(), current_user_id(), body, rules=_rules(), render=render_order, keyed=keyed
    )
    return stored_result(response)


@bp.get(
    "", summary="List your orders, newest first", operation_id="listOrders", responses={200: Page[OrderOut]}
)
@login_required
def list_orders(query: LimitQuery) -> Result:
    session = get_session()
    orders, next_cursor = service.list_orders(
        session, user_id=current_user_id(), status=None, limit=query.limit, cursor=query.cursor
    )
    attempts = service.payments_of(session, orders)
    return {"items": [render_order(o, attempts.get(o.id, [])) for o in orders], "next_cursor": next_cursor}


@bp.get(
    "/<int:order_id>", summary="Get one of your orders", operation_id="getOrder", responses={200: OrderOut}
)
@login_required
def get_order(path: OrderPath) -> Result:
    return order_out(service.get_order(get_session(), path.order_id, user_id=current_user_id()))


@bp.patch(
    "/<int:order_id>",
    summary="Change line quantities while the order is pending",
    operation_id="updateOrder",
    responses={200: OrderOut},
)
@login_required
def update_order(path: OrderPath, body: OrderUpdate) -> Result:
    order = edits.update_order_items(get_session(), current_user_id(), path.order_id, body, rules=_rules())
    return order_out(order)


@bp.post(
    "/<int:order_id>/cancel",
    summary="Cancel a pending or paid order: stock comes back, a paid order is refunded",
    operation_id="cancelOrder",
    responses={200: OrderOut},
)
@login_required
def cancel_order(path: OrderPath) -> Result:
    order = cancellation.cancel_order(
        get_session(), current_gateway(), path.order_id, user_id=current_user_id()
    )
    return order_out(order)
