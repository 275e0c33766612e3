"""HTTP routes of /api/admin (role admin): users and inventory so far."""

from __future__ import annotations

from typing import Any

from flask_openapi import APIBlueprint, Tag
from pydantic import BaseModel

from shopwright.accounts import service as accounts
from shopwright.accounts.auth import BEARER, admin_required, current_user_id, refresh_ttl, revocation_store
from shopwright.accounts.schemas import UserOut, UserSearchQuery
from shopwright.db import get_session
from shopwright.inventory import service as inventory
from shopwright.inventory.schemas import StockOut, StockPath, StockQuery, StockUpdate
from shopwright.schemas import Page

bp = APIBlueprint(
    "admin", __name__, url_prefix="/api/admin", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)


class UserPath(BaseModel):
    user_id: int


@bp.get(
    "/users", summary="List users, newest first, searchable by email or name", responses={200: Page[UserOut]}
)
@admin_required
def list_users(query: UserSearchQuery) -> dict[str, Any]:
    users, next_cursor = accounts.list_users(
        get_session(), query=query.q, limit=query.limit, cursor=query.cursor
    )
    return {
        "items": [UserOut.model_validate(u).model_dump(mode="json") for u in users],
        "next_cursor": next_cursor,
    }


@bp.put(
    "/users/<int:user_id>/toggle-status", summary="Activate or deactivate a user", responses={200: UserOut}
)
@admin_required
def toggle_user_status(path: UserPath) -> dict[str, Any]:
    user = accounts.toggle_user_active(
        get_session(),
        revocation_store(),
        path.user_id,
        acting_admin_id=current_user_id(),
        refresh_ttl=refresh_ttl(),
    )
    return UserOut.model_validate(user).model_dump(mode="json")


@bp.get(
    "/inventory",
    summary="List stock per variant (quantity, reserved, available), optionally only low stock",
    responses={200: Page[StockOut]},
)
@admin_required
def list_inventory(query: StockQuery) -> dict[str, Any]:
    rows, next_cursor = inventory.list_stock(
        get_session(),
        low_stock_threshold=query.threshold if query.low_stock else None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return {
        "items": [StockOut.model_validate(row._mapping).model_dump() for row in rows],
        "next_cursor": next_cursor,
    }


@bp.put(
    "/inventory/<int:variant_id>",
    summary="Set a variant's stock ({quantity}) or change it ({delta}); never below what carts reserve",
    responses={200: StockOut},
)
@admin_required
def update_inventory(path: StockPath, body: StockUpdate) -> dict[str, Any]:
    row = inventory.adjust_stock(
        get_session(), path.variant_id, quantity=body.quantity, delta=body.delta or 0
    )
    return StockOut.model_validate(row._mapping).model_dump()
