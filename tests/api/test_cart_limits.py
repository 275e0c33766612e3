"""Stock hoarding: a cart holds at most CART_MAX_LINES distinct lines (422 cart_full), and its reservations
lapse CART_MAX_HOLD_MINUTES after its first reservation however often it is touched (lines move to saved
items, as on expiry; the sweep catches it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart import service as cart_service
from shopwright.cart.models import ACTIVE, Cart
from shopwright.catalog.models import Variant
from tests.factories import assert_problem, customer
from tests.factories.cart import Shopper, total_reserved
from tests.factories.catalog import Shop, create_products, stock_of


def _variants(shop: Shop, sessions: sessionmaker[Session], n: int, stock: int = 5) -> list[int]:
    """n products with `stock` units each (made in bulk); return their default variant ids."""
    category = shop.category()["id"]
    with sessions() as session:
        products = create_products(
            session,
            [{"name": f"Hoard {i}", "category_id": category, "stock_quantity": stock} for i in range(n)],
        )
        return list(
            session.scalars(select(Variant.id).where(Variant.product_id.in_(products)).order_by(Variant.id))
        )


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _age_hold(sessions: sessionmaker[Session], minutes: float, *, expiry_too: bool = False) -> None:
    """Move the active cart's first reservation `minutes` back, as if it had been touched ever since.

    `expiry_too`: the last touch is that much older as well, so its expiry moves back with it.
    """
    shift = timedelta(minutes=minutes)
    with sessions() as session, session.begin():
        cart = session.scalars(select(Cart).where(Cart.status == ACTIVE)).one()
        assert cart.held_since is not None
        values: dict[str, Any] = {"held_since": cart.held_since - shift}
        if expiry_too:
            values["expires_at"] = cart.expires_at - shift
        session.execute(update(Cart).where(Cart.id == cart.id).values(values))


def _held_since(sessions: sessionmaker[Session]) -> datetime | None:
    with sessions() as session:
        return session.scalars(select(Cart.held_since).where(Cart.status == ACTIVE)).one()


# --- lines ---------------------------------------------------------------------------------------
def test_the_101st_distinct_line_is_cart_full_and_reserves_nothing(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    variants = _variants(shop, sessions, 102)
    shopper = Shopper(client, customer(client))
    for variant_id in variants[:100]:
        shopper.added(1, variant_id=variant_id)

    problem = assert_problem(shopper.add(1, variant_id=variants[100]), 422, "cart_full")

    assert "100" in problem["detail"]
    assert stock_of(sessions, variants[100]) == (5, 0)
    assert total_reserved(sessions) == 100
    assert len(shopper.get()["items"]) == 100
    # More units on a line it holds are no new line; a saved item does not count.
    assert shopper.added(2, variant_id=variants[0])["items"][0]["quantity"] == 3
    line = shopper.line(variants[1])["id"]
    assert shopper.call("POST", f"/items/{line}/save-for-later").status_code == 200
    shopper.added(1, variant_id=variants[100])
    saved = shopper.line(variants[1], saved=True)["id"]
    assert_problem(shopper.call("POST", f"/saved/{saved}/move-to-cart"), 422, "cart_full")
    assert stock_of(sessions, variants[1]) == (5, 0)
    assert shopper.line(variants[1], saved=True)["quantity"] == 1


def test_cart_max_lines_is_a_setting(make_app: Callable[..., Flask], sessions: sessionmaker[Session]) -> None:
    app = make_app(CART_MAX_LINES=2)
    shop = Shop(app, app.test_client())
    variants = _variants(shop, sessions, 3)
    shopper = Shopper(shop.client, customer(shop.client))
    shopper.added(1, variant_id=variants[0])
    shopper.added(1, variant_id=variants[1])

    assert_problem(shopper.add(1, variant_id=variants[2]), 422, "cart_full")
    assert stock_of(sessions, variants[2]) == (5, 0)


# --- how long stock is held ----------------------------------------------------------------------
def test_touching_the_cart_cannot_hold_stock_past_the_max_hold(
    app: Flask, shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    # The attack: touch the cart every 15 minutes and the stock is held forever.
    first, second = _variants(shop, sessions, 2)
    shopper = Shopper(client, customer(client))
    added = shopper.added(3, variant_id=first)
    held_since = _held_since(sessions)
    assert held_since is not None
    assert abs(held_since - (_ts(added["expires_at"]) - timedelta(minutes=15))) < timedelta(seconds=5)
    _age_hold(sessions, 110)  # 110 minutes of touching later

    touched = shopper.added(1, variant_id=second)

    # 10 minutes left of the 120, not the 15 a touch gives.
    left = _ts(touched["expires_at"]) - datetime.now(_ts(touched["expires_at"]).tzinfo)
    assert timedelta(minutes=9) < left <= timedelta(minutes=10)
    _age_hold(sessions, 11, expiry_too=True)
    with sessions() as session:
        assert cart_service.expire_carts(session) == (1, 4)  # the sweep catches it
    assert stock_of(sessions, first) == (5, 0)
    assert stock_of(sessions, second) == (5, 0)
    cart = shopper.get()
    assert cart["items"] == []
    assert sorted((line["variant_id"], line["quantity"]) for line in cart["saved_items"]) == [
        (first, 3),
        (second, 1),
    ]


def test_a_lapsed_hold_is_also_caught_on_access(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    (variant,) = _variants(shop, sessions, 1)
    shopper = Shopper(client, customer(client))
    shopper.added(2, variant_id=variant)
    _age_hold(sessions, 110)
    shopper.added(1, variant_id=variant)  # held 10 more minutes at most, not 15
    _age_hold(sessions, 11, expiry_too=True)

    assert_problem(
        shopper.client.post(
            "/api/orders", json={"delivery_address": "1 Main St"}, headers=shopper.account.headers
        ),
        422,
        "cart_expired",
    )
    assert shopper.get()["saved_items"][0]["quantity"] == 3
    assert stock_of(sessions, variant) == (5, 0)


def test_the_hold_starts_at_the_first_reservation_and_ends_when_nothing_is_held(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    app = make_app(CART_MAX_HOLD_MINUTES=30)
    shop = Shop(app, app.test_client())
    (variant,) = _variants(shop, sessions, 1)
    shopper = Shopper(shop.client, customer(shop.client))
    shopper.get()  # opens the cart: no reservation, no hold
    assert _held_since(sessions) is None
    shopper.added(1, variant_id=variant)
    assert _held_since(sessions) is not None
    line = shopper.line(variant)["id"]

    shopper.call("DELETE", f"/items/{line}")

    assert _held_since(sessions) is None
    again = shopper.added(1, variant_id=variant)
    left = _ts(again["expires_at"]) - datetime.now(_ts(again["expires_at"]).tzinfo)
    assert timedelta(minutes=14) < left <= timedelta(minutes=15)


@pytest.mark.parametrize(("name", "default"), [("CART_MAX_LINES", 100), ("CART_MAX_HOLD_MINUTES", 120)])
def test_the_defaults(app: Flask, name: str, default: Any) -> None:
    assert getattr(app.extensions["shopwright.settings"], name) == default
