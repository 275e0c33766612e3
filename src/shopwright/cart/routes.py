"""HTTP routes of /api/cart: the customer's cart, its lines and saved-for-later items."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_user_id, login_required
from shopwright.cart import service
from shopwright.cart.schemas import CartItemIn, CartItemPath, CartItemUpdate, CartOut
from shopwright.cart.view import CartView
from shopwright.db import get_session, get_settings

bp = APIBlueprint("cart", __name__, url_prefix="/api/cart", abp_tags=[Tag(name="Cart")], abp_security=BEARER)
Result = tuple[dict[str, Any], int] | dict[str, Any]


def _ttl() -> timedelta:
    return timedelta(minutes=get_settings().CART_TTL_MINUTES)


def _hold() -> timedelta:
    return timedelta(minutes=get_settings().CART_MAX_HOLD_MINUTES)


def _out(view: CartView) -> dict[str, Any]:
    return CartOut.model_validate(view).model_dump(mode="json")


@bp.get(
    "",
    summary="Get the cart (a lapsed cart's lines come back as saved items)",
    operation_id="getCart",
    responses={200: CartOut},
)
@login_required
def get_cart() -> Result:
    return _out(service.view_cart(get_session(), current_user_id(), ttl=_ttl()))


@bp.delete(
    "",
    summary="Empty the cart, releasing its reservations (saved items stay)",
    operation_id="clearCart",
    responses={200: CartOut},
)
@login_required
def clear_cart() -> Result:
    return _out(service.clear_cart(get_session(), current_user_id(), ttl=_ttl(), max_hold=_hold()))


@bp.post(
    "/items",
    summary="Add a product or variant, reserving stock",
    operation_id="addCartItem",
    responses={201: CartOut},
)
@login_required
def add_item(body: CartItemIn) -> Result:
    lines = get_settings().CART_MAX_LINES
    view = service.add_item(
        get_session(), current_user_id(), body, ttl=_ttl(), max_lines=lines, max_hold=_hold()
    )
    return _out(view), 201


@bp.put(
    "/items/<int:item_id>",
    summary="Set a line's quantity (0 removes it); the same as PATCH",
    operation_id="replaceCartItem",
    responses={200: CartOut},
)
@bp.patch(
    "/items/<int:item_id>",
    summary="Set a line's quantity (0 removes it)",
    operation_id="updateCartItem",
    responses={200: CartOut},
)
@login_required
def update_item(path: CartItemPath, body: CartItemUpdate) -> Result:
    view = service.set_item_quantity(
        get_session(), current_user_id(), path.item_id, body.quantity, ttl=_ttl(), max_hold=_hold()
    )
    return _out(view)


@bp.delete(
    "/items/<int:item_id>",
    summary="Remove a line, releasing its reservation",
    operation_id="removeCartItem",
    responses={200: CartOut},
)
@login_required
def remove_item(path: CartItemPath) -> Result:
    view = service.remove_item(get_session(), current_user_id(), path.item_id, ttl=_ttl(), max_hold=_hold())
    return _out(view)


@bp.post(
    "/items/<int:item_id>/save-for-later",
    summary="Move a line to the saved items, releasing its reservation",
    operation_id="saveCartItemForLater",
    responses={200: CartOut},
)
@login_required
def save_for_later(path: CartItemPath) -> Result:
    view = service.save_for_later(
        get_session(), current_user_id(), path.item_id, ttl=_ttl(), max_hold=_hold()
    )
    return _out(view)


@bp.post(
    "/saved/<int:item_id>/move-to-cart",
    summary="Move a saved item back into the cart, reserving stock",
    operation_id="moveSavedItemToCart",
    responses={200: CartOut},
)
@login_required
def move_to_cart(path: CartItemPath) -> Result:
    lines = get_settings().CART_MAX_LINES
    view = service.move_to_cart(
        get_session(), current_user_id(), path.item_id, ttl=_ttl(), max_lines=lines, max_hold=_hold()
    )
    return _out(view)


@bp.delete(
    "/saved/<int:item_id>",
    summary="Remove a saved item",
    operation_id="removeSavedItem",
    responses={200: CartOut},
)
@login_required
def remove_saved_item(path: CartItemPath) -> Result:
    view = service.remove_saved_item(
        get_session(), current_user_id(), path.item_id, ttl=_ttl(), max_hold=_hold()
    )
    return _out(view)
