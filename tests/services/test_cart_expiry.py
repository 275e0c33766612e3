"""Cart expiry through the use cases, with a controllable clock (`now`) instead of sleeping."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart import service as cart
from shopwright.cart.models import ACTIVE, CONVERTED, EXPIRED, Cart
from shopwright.cart.schemas import CartItemIn
from shopwright.catalog.models import Variant
from shopwright.db import utcnow
from tests.factories import customer
from tests.factories.cart import total_reserved
from tests.factories.catalog import Shop, create_products, empty_catalog, stock_of

TTL = timedelta(minutes=15)
RULES = cart.CartRules(ttl=TTL)


@pytest.fixture
def variants(app: Flask, sessions: sessionmaker[Session]) -> Iterator[list[int]]:
    """Two products with 10 units each; yields their default variant ids."""
    category = Shop(app, app.test_client()).category("Tools")
    with sessions() as session:
        products = create_products(
            session,
            [{"name": f"Tool {i}", "category_id": category["id"], "stock_quantity": 10} for i in range(2)],
        )
        ids = session.scalars(select(Variant.id).where(Variant.product_id.in_(products)).order_by(Variant.id))
        yield list(ids)
    empty_catalog(sessions)


@pytest.fixture
def users(app: Flask) -> list[int]:
    client = app.test_client()
    return [customer(client).id for _ in range(3)]


def _add(sessions: sessionmaker[Session], user_id: int, variant_id: int, quantity: int) -> None:
    with sessions() as session:
        cart.add_item(session, user_id, CartItemIn(variant_id=variant_id, quantity=quantity), rules=RULES)


def test_the_sweep_expires_lapsed_carts_once_and_releases_their_units(
    sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    first, second = variants
    _add(sessions, users[0], first, 3)
    _add(sessions, users[0], second, 2)
    _add(sessions, users[1], first, 4)
    assert total_reserved(sessions) == 9

    with sessions() as session:
        assert cart.expire_carts(session, now=utcnow() + TTL - timedelta(seconds=5)) == (0, 0)
        assert cart.expire_carts(session, now=utcnow() + TTL + timedelta(seconds=1)) == (2, 9)
        assert cart.expire_carts(session, now=utcnow() + TTL + timedelta(minutes=5)) == (0, 0)

    assert stock_of(sessions, first) == (10, 0)
    assert stock_of(sessions, second) == (10, 0)
    with sessions() as session:
        assert set(session.scalars(select(Cart.status))) == {EXPIRED}


def test_the_sweep_leaves_fresh_carts_alone(
    sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    _add(sessions, users[0], variants[0], 3)
    with sessions() as session:
        session.execute(update(Cart).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    _add(sessions, users[1], variants[0], 2)

    with sessions() as session:
        assert cart.expire_carts(session) == (1, 3)

    assert stock_of(sessions, variants[0]) == (10, 2)


def test_the_sweep_works_in_batches(
    sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    for user_id in users:
        _add(sessions, user_id, variants[0], 1)
    with sessions() as session:
        assert cart.expire_carts(session, now=utcnow() + 2 * TTL, batch_size=2) == (3, 3)
    assert total_reserved(sessions) == 0


def test_flask_expire_carts_prints_what_it_released(
    app: Flask, sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    _add(sessions, users[0], variants[0], 3)
    _add(sessions, users[1], variants[1], 1)
    with sessions() as session:
        session.execute(update(Cart).values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()

    result = app.test_cli_runner().invoke(args=["expire-carts"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Expired 2 cart(s), released 4 unit(s)"
    assert app.test_cli_runner().invoke(args=["expire-carts"]).output.strip() == (
        "Expired 0 cart(s), released 0 unit(s)"
    )
    assert total_reserved(sessions) == 0


def test_a_converted_cart_hands_only_its_saved_items_to_the_next_cart(
    sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    bought, saved = variants
    _add(sessions, users[0], bought, 2)
    _add(sessions, users[0], saved, 1)
    with sessions() as session:
        line = cart.view_cart(session, users[0], rules=RULES).items[1]
        cart.save_for_later(session, users[0], line.id, rules=RULES)
        # What checkout does to the cart (the orders domain owns that use case).
        session.execute(update(Cart).where(Cart.status == ACTIVE).values(status=CONVERTED))
        session.commit()

        view = cart.view_cart(session, users[0], rules=RULES)

    assert view.items == []
    assert [(item.variant_id, item.quantity) for item in view.saved_items] == [(saved, 1)]


def test_a_customer_can_open_many_carts_over_time(
    sessions: sessionmaker[Session], variants: list[int], users: list[int]
) -> None:
    # Regression: the one-active-cart INSERT … ON CONFLICT named the partial index with a bound parameter;
    # once psycopg prepared the statement and PostgreSQL switched it to a generic plan, it no longer matched.
    for _ in range(15):
        _add(sessions, users[0], variants[0], 1)
        with sessions() as session:
            cart.expire_carts(session, now=utcnow() + 2 * TTL)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Cart).where(Cart.status == EXPIRED)) == 15
    assert stock_of(sessions, variants[0]) == (10, 0)
