"""HTTP routes of /api/admin (role admin): users so far."""

from __future__ import annotations

from typing import Any

from flask_openapi import APIBlueprint, Tag
from pydantic import BaseModel

from shopwright.accounts import service as accounts
from shopwright.accounts.auth import BEARER, admin_required, current_user_id, refresh_ttl, revocation_store
from shopwright.accounts.schemas import UserOut, UserSearchQuery
from shopwright.db import get_session
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
