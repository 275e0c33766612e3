"""HTTP routes of /api/orders: checkout, history, detail, edits while pending, cancellation."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_user_id, login_required
from shopwright.db import get_read_session, get_session
from shopwright.orders import cancellation, checkout, display, edits
from shopwright.orders.schemas import OrderCreate, OrderOut, OrderPath, OrderUpdate
from shopwright.schemas import IdempotencyHeader, LimitQuery, Page
from shopwright.web import Result, current_gateway, keyed_request, pricing_rules, stored_result

bp = APIBlueprint(
    "orders", __name__, url_prefix="/api/orders", abp_tags=[Tag(name="Orders")], abp_security=BEARER
)


@bp.post(
    "",
    summary="Check out the cart into a pending order (Idempotency-Key honoured)",
    operation_id="placeOrder",
    responses={201: OrderOut},
)
@login_required
def place_order(header: IdempotencyHeader, body: OrderCreate) -> Result:
    keyed = keyed_request(header, body)
    response = checkout.place_order(
        get_session(), current_user_id(), body, rules=pricing_rules(), keyed=keyed
    )
    return stored_result(response)


@bp.get(
    "", summary="List your orders, newest first", operation_id="listOrders", responses={200: Page[OrderOut]}
)
@login_required
def list_orders(query: LimitQuery) -> Result:
    # Reads on the primary's autocommit pool (no BEGIN/COMMIT on PostgreSQL): an order just placed or
    # paid shows, and each statement sees the latest commit, as inside a READ COMMITTED transaction.
    page = display.list_orders_json(
        get_read_session(fresh=True),
        user_id=current_user_id(),
        status=None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@bp.get(
    "/<int:order_id>", summary="Get one of your orders", operation_id="getOrder", responses={200: OrderOut}
)
@login_required
def get_order(path: OrderPath) -> Result:
    return display.get_order_json(get_read_session(fresh=True), path.order_id, user_id=current_user_id())


@bp.patch(
    "/<int:order_id>",
    summary="Change line quantities while the order is pending",
    operation_id="updateOrder",
    responses={200: OrderOut},
)
@login_required
def update_order(path: OrderPath, body: OrderUpdate) -> Result:
    session, user_id = get_session(), current_user_id()
    edits.update_order_items(session, user_id, path.order_id, body, rules=pricing_rules())
    return display.get_order_json(session, path.order_id, user_id=user_id)


@bp.post(
    "/<int:order_id>/cancel",
    summary="Cancel a pending or paid order: stock comes back, a paid order is refunded",
    operation_id="cancelOrder",
    responses={200: OrderOut},
)
@login_required
def cancel_order(path: OrderPath) -> Result:
    session, user_id = get_session(), current_user_id()
    cancellation.cancel_order(session, current_gateway(), path.order_id, user_id=user_id)
    return display.get_order_json(session, path.order_id, user_id=user_id)
