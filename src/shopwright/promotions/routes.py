"""HTTP routes of /api/admin/vouchers (role admin): promo codes."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required
from shopwright.db import get_session
from shopwright.promotions import service
from shopwright.promotions.schemas import VoucherCreate, VoucherOut, VoucherPath, VoucherQuery, VoucherUpdate
from shopwright.schemas import Page
from shopwright.web import Result, no_content, respond

bp = APIBlueprint(
    "vouchers", __name__, url_prefix="/api/admin/vouchers", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)


@bp.get(
    "",
    summary="List vouchers, newest first (filter: active)",
    operation_id="adminListVouchers",
    responses={200: Page[VoucherOut]},
)
@admin_required
def list_vouchers(query: VoucherQuery) -> Result:
    page = service.list_vouchers(get_session(), limit=query.limit, cursor=query.cursor, active=query.active)
    return respond(Page[VoucherOut], page)


@bp.post(
    "",
    summary="Create a voucher (percent or fixed amount)",
    operation_id="adminCreateVoucher",
    responses={201: VoucherOut},
)
@admin_required
def create_voucher(body: VoucherCreate) -> Result:
    return respond(VoucherOut, service.create_voucher(get_session(), body), 201)


@bp.get(
    "/<int:voucher_id>",
    summary="Get a voucher with its use count",
    operation_id="adminGetVoucher",
    responses={200: VoucherOut},
)
@admin_required
def get_voucher(path: VoucherPath) -> Result:
    return respond(VoucherOut, service.get_voucher(get_session(), path.voucher_id))


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
    return respond(VoucherOut, service.update_voucher(get_session(), path.voucher_id, body))


@bp.delete(
    "/<int:voucher_id>",
    summary="Delete a voucher that was never redeemed (deactivate a redeemed one)",
    operation_id="adminDeleteVoucher",
    responses={204: None},
)
@admin_required
def delete_voucher(path: VoucherPath) -> Result:
    service.delete_voucher(get_session(), path.voucher_id)
    return no_content()
