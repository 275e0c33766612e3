"""HTTP routes of /api/cart: the customer's cart, its lines and saved-for-later items."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, current_user_id, login_required
from shopwright.cart import service
from shopwright.cart.schemas import CartItemIn, CartItemPath, CartItemUpdate, CartOut
from shopwright.db import get_read_session, get_session
from shopwright.web import Result, cart_rules

bp = APIBlueprint("cart", __name__, url_prefix="/api/cart", abp_tags=[Tag(name="Cart")], abp_security=BEARER)


@bp.get(
    "",
    summary="Get the cart (a lapsed cart's lines come back as saved items)",
    operation_id="getCart",
    responses={200: CartOut},
)
@login_required
def get_cart() -> Result:
    return service.view_cart(
        get_session(), current_user_id(), rules=cart_rules(), reads=get_read_session(fresh=True)
    )


@bp.delete(
    "",
    summary="Empty the cart, releasing its reservations (saved items stay)",
    operation_id="clearCart",
    responses={200: CartOut},
)
@login_required
def clear_cart() -> Result:
    return service.clear_cart(get_session(), current_user_id(), rules=cart_rules())


@bp.post(
    "/items",
    summary="Add a product or variant, reserving stock",
    operation_id="addCartItem",
    responses={201: CartOut},
)
@login_required
def add_item(body: CartItemIn) -> Result:
    view = service.add_item(get_session(), current_user_id(), body, rules=cart_rules())
    return view, 201


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
    return service.set_item_quantity(
        get_session(),
        current_user_id(),
        path.item_id,
        body.quantity,
        rules=cart_rules(),
    )


@bp.delete(
    "/items/<int:item_id>",
    summary="Remove a line, releasing its reservation",
    operation_id="removeCartItem",
    responses={200: CartOut},
)
@login_required
def remove_item(path: CartItemPath) -> Result:
    return service.remove_item(get_session(), current_user_id(), path.item_id, rules=cart_rules())


@bp.post(
    "/items/<int:item_id>/save-for-later",
    summary="Move a line to the saved items, releasing its reservation",
    operation_id="saveCartItemForLater",
    responses={200: CartOut},
)
@login_required
def save_for_later(path: CartItemPath) -> Result:
    return service.save_for_later(get_session(), current_user_id(), path.item_id, rules=cart_rules())


@bp.post(
    "/saved/<int:item_id>/move-to-cart",
    summary="Move a saved item back into the cart, reserving stock",
    operation_id="moveSavedItemToCart",
    responses={200: CartOut},
)
@login_required
def move_to_cart(path: CartItemPath) -> Result:
    return service.move_to_cart(
        get_session(),
        current_user_id(),
        path.item_id,
        rules=cart_rules(),
    )


@bp.delete(
    "/saved/<int:item_id>",
    summary="Remove a saved item",
    operation_id="removeSavedItem",
    responses={200: CartOut},
)
@login_required
def remove_saved_item(path: CartItemPath) -> Result:
    return service.remove_saved_item(get_session(), current_user_id(), path.item_id, rules=cart_rules())
