"""HTTP routes of /api/admin (role admin): users, inventory and orders."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts import service as accounts
from shopwright.accounts.auth import BEARER, admin_required, current_user_id, refresh_ttl, revocation_store
from shopwright.accounts.schemas import RoleIn, UserOut, UserSearchQuery
from shopwright.db import get_session
from shopwright.inventory import service as inventory
from shopwright.inventory.schemas import StockOut, StockPath, StockQuery, StockUpdate
from shopwright.orders import cancellation, fulfilment
from shopwright.orders import display as order_display
from shopwright.orders.schemas import OrderOut, OrderPath, OrderQuery, OrderStatusIn
from shopwright.payments.schemas import RefundIn
from shopwright.schemas import IdempotencyHeader, InputModel, Page
from shopwright.web import Result, current_gateway, keyed_request, respond, stored_result

bp = APIBlueprint(
    "admin", __name__, url_prefix="/api/admin", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)


class UserPath(InputModel):
    user_id: int


@bp.get(
    "/users",
    summary="List users, newest first, searchable by email or name",
    operation_id="adminListUsers",
    responses={200: Page[UserOut]},
)
@admin_required
def list_users(query: UserSearchQuery) -> Result:
    page = accounts.list_users(get_session(), query=query.q, limit=query.limit, cursor=query.cursor)
    return respond(Page[UserOut], page)


@bp.put(
    "/users/<int:user_id>/toggle-status",
    summary="Activate or deactivate a user",
    operation_id="adminToggleUserStatus",
    responses={200: UserOut},
)
@admin_required
def toggle_user_status(path: UserPath) -> Result:
    user = accounts.toggle_user_active(
        get_session(),
        revocation_store(),
        path.user_id,
        acting_admin_id=current_user_id(),
        refresh_ttl=refresh_ttl(),
    )
    return respond(UserOut, user)


@bp.put(
    "/users/<int:user_id>/role",
    summary="Change a user's role; the last active admin keeps theirs (their sessions end)",
    operation_id="adminSetUserRole",
    responses={200: UserOut},
)
@admin_required
def change_user_role(path: UserPath, body: RoleIn) -> Result:
    user = accounts.change_role(
        get_session(), revocation_store(), path.user_id, body.role, refresh_ttl=refresh_ttl()
    )
    return respond(UserOut, user)


@bp.get(
    "/inventory",
    summary="List stock per variant (quantity, reserved, available), optionally only low stock",
    operation_id="adminListInventory",
    responses={200: Page[StockOut]},
)
@admin_required
def list_inventory(query: StockQuery) -> Result:
    page = inventory.list_stock(
        get_session(),
        low_stock_threshold=query.threshold if query.low_stock else None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return respond(Page[StockOut], page)


@bp.put(
    "/inventory/<int:variant_id>",
    summary="Set a variant's stock ({quantity}) or change it ({delta}); never below what carts reserve",
    operation_id="adminUpdateInventory",
    responses={200: StockOut},
)
@admin_required
def update_inventory(path: StockPath, body: StockUpdate) -> Result:
    row = inventory.adjust_stock(
        get_session(),
        path.variant_id,
        quantity=body.quantity,
        delta=body.delta or 0,
        actor_id=current_user_id(),
    )
    return respond(StockOut, row)


@bp.get(
    "/orders",
    summary="List all orders, newest first, optionally by status",
    operation_id="adminListOrders",
    responses={200: Page[OrderOut]},
)
@admin_required
def list_orders(query: OrderQuery) -> Result:
    page = order_display.list_orders_json(
        get_session(), user_id=None, status=query.status, limit=query.limit, cursor=query.cursor
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@bp.get(
    "/orders/<int:order_id>",
    summary="Get any order",
    operation_id="adminGetOrder",
    responses={200: OrderOut},
)
@admin_required
def get_order(path: OrderPath) -> Result:
    return order_display.get_order_json(get_session(), path.order_id, user_id=None)


@bp.put(
    "/orders/<int:order_id>/status",
    summary="Move an order along the status machine",
    operation_id="adminUpdateOrderStatus",
    responses={200: OrderOut},
)
@admin_required
def change_order_status(path: OrderPath, body: OrderStatusIn) -> Result:
    session = get_session()
    fulfilment.change_status(
        session, current_gateway(), path.order_id, body.status, actor_id=current_user_id()
    )
    return order_display.get_order_json(session, path.order_id, user_id=None)


@bp.post(
    "/orders/<int:order_id>/refund",
    summary="Refund a paid order in full or in part (Idempotency-Key honoured)",
    operation_id="adminRefundOrder",
    # 202: the provider did not answer; the refund stays pending (reserved) and is sent again automatically.
    responses={200: OrderOut, 202: OrderOut},
)
@admin_required
def refund_order(path: OrderPath, header: IdempotencyHeader, body: RefundIn) -> Result:
    response = cancellation.refund_order(
        get_session(),
        current_gateway(),
        path.order_id,
        amount_cents=body.amount_cents,
        reason=body.reason or "refund",
        keyed=keyed_request(header, body),
    )
    return stored_result(response)
