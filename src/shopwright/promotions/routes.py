"""HTTP routes of /api/admin/vouchers (role admin): promo codes."""

from __future__ import annotations

from typing import Any

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required
from shopwright.db import get_session
from shopwright.promotions import service
from shopwright.promotions.models import Voucher
from shopwright.promotions.schemas import VoucherCreate, VoucherOut, VoucherPath, VoucherQuery, VoucherUpdate
from shopwright.schemas import Page

bp = APIBlueprint(
    "vouchers", __name__, url_prefix="/api/admin/vouchers", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)
Result = tuple[dict[str, Any] | str, int] | dict[str, Any]


def _out(voucher: Voucher) -> dict[str, Any]:
    return VoucherOut.model_validate(voucher).model_dump(mode="json")


@bp.get(
    "",
    summary="List vouchers, newest first (filter: active)",
    operation_id="adminListVouchers",
    responses={200: Page[VoucherOut]},
)
@admin_required
def list_vouchers(query: VoucherQuery) -> Result:
    vouchers, next_cursor = service.list_vouchers(
        get_session(), limit=query.limit, cursor=query.cursor, active=query.active
    )
    return {"items": [_out(v) for v in vouchers], "next_cursor": next_cursor}


@bp.post(
    "",
    summary="Create a voucher (percent or fixed amount)",
    operation_id="adminCreateVoucher",
    responses={201: VoucherOut},
)
@admin_required
def create_voucher(body: VoucherCreate) -> Result:
    return _out(service.create_voucher(get_session(), body)), 201


@bp.get(
    "/<int:voucher_id>",
    summary="Get a voucher with its use count",
    operation_id="adminGetVoucher",
    responses={200: VoucherOut},
)
@admin_required
def get_voucher(path: VoucherPath) -> Result:
    return _out(service.get_voucher(get_session(), path.voucher_id))


@bp.put(
    "/<int:voucher_id>",
    summary="Update a voucher (as PATCH: fields left out are kept)",
    operation_id="adminReplaceVoucher",
    responses={200: VoucherOut},
)
@bp.patch(
    "/<int:voucher_id>",
    summary="Update a voucher",
    operation_id="adminUpdateVoucher",
    responses={200: VoucherOut},
)
@admin_required
def update_voucher(path: VoucherPath, body: VoucherUpdate) -> Result:
    return _out(service.update_voucher(get_session(), path.voucher_id, body))


@bp.delete(
    "/<int:voucher_id>",
    summary="Delete a voucher that was never redeemed (deactivate a redeemed one)",
    operation_id="adminDeleteVoucher",
    responses={204: None},
)
@admin_required
def delete_voucher(path: VoucherPath) -> Result:
    service.delete_voucher(get_session(), path.voucher_id)
    return "", 204
