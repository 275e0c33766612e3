"""HTTP routes of /api/admin/inventory/<variant_id>/movements (role admin): the stock history."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required
from shopwright.db import get_session
from shopwright.inventory import movements
from shopwright.inventory.schemas import MovementOut, StockPath
from shopwright.schemas import LimitQuery, Page
from shopwright.web import Result, respond

bp = APIBlueprint(
    "inventory", __name__, url_prefix="/api/admin", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)


@bp.get(
    "/inventory/<int:variant_id>/movements",
    summary="List a variant's stock movements (who, when, delta, reason), newest first",
    operation_id="adminListStockMovements",
    responses={200: Page[MovementOut]},
)
@admin_required
def list_movements(path: StockPath, query: LimitQuery) -> Result:
    page = movements.list_movements(get_session(), path.variant_id, limit=query.limit, cursor=query.cursor)
    return respond(Page[MovementOut], page)
