"""Races on cart reservations, with real commits and threads released together.

Each test names the protection it exercises and what breaks without it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart import service as cart
from shopwright.cart.models import ACTIVE, EXPIRED, Cart
from shopwright.inventory.models import StockLevel
from tests.factories import Account, customer
from tests.factories.cart import CART, Shopper, lapse_carts, reserved_in_active_carts
from tests.factories.catalog import Shop, stock_of
from tests.support.races import race


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Consoles")


def _customers(app: Flask, n: int) -> list[Account]:
    client = app.test_client()
    return [customer(client) for _ in range(n)]


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def _add(app: Flask, account: Account, product_id: int, quantity: int = 1) -> tuple[int, str | None]:
    response = Shopper(app.test_client(), account).add(quantity, product_id=product_id)
    return response.status_code, (response.get_json(silent=True) or {}).get("code")


def _assert_stock_matches_carts(sessions: sessionmaker[Session]) -> None:
    """`reserved` equals the units on lines of active carts, and stays within 0..quantity."""
    with sessions() as session:
        levels = {level.variant_id: level for level in session.scalars(select(StockLevel))}
        held = reserved_in_active_carts(session)
    for variant_id, level in levels.items():
        assert 0 <= level.reserved <= level.quantity
        assert level.reserved == held.get(variant_id, 0), f"variant {variant_id}"


def test_fifty_customers_racing_for_five_units_get_exactly_five(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: one conditional UPDATE (reserved + 1 WHERE quantity - reserved >= 1). Without it (read the
    # available units, then write reserved + 1) the racers all see 5 available and over-reserve.
    product = shop.product(category["id"], stock_quantity=5)
    accounts = _customers(app, 50)

    results = race(50, lambda i: _add(app, accounts[i], product["id"]))

    assert Counter(results) == {(201, None): 5, (409, "out_of_stock"): 45}
    assert stock_of(sessions, _variant(product)) == (5, 5)
    _assert_stock_matches_carts(sessions)


def test_one_customer_adding_from_many_tabs_gets_one_cart_and_every_unit(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: the one-active-cart unique index with INSERT … ON CONFLICT DO NOTHING, then the cart row
    # lock. Without the index the tabs open several carts; without the lock two tabs read the line's quantity
    # at once and one increment is lost while its units stay reserved.
    product = shop.product(category["id"], stock_quantity=100)
    (account,) = _customers(app, 1)

    results = race(12, lambda _: _add(app, account, product["id"], 2))

    assert Counter(results) == {(201, None): 12}
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Cart).where(Cart.status == ACTIVE)) == 1
    assert Shopper(app.test_client(), account).get()["items"][0]["quantity"] == 24
    assert stock_of(sessions, _variant(product)) == (100, 24)


def test_expiry_sweeps_racing_customers_release_every_unit_exactly_once(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: expiry flips `active → expired` with a conditional UPDATE and releases only the carts that
    # UPDATE returned; sweeps skip carts a customer holds locked. Without the status condition a second sweep
    # (or the customer's own request) releases the same units again: `reserved` drops below what active
    # carts hold, or the CHECK (reserved >= 0) turns a request into an error.
    products = [shop.product(category["id"], stock_quantity=100) for _ in range(2)]
    accounts = _customers(app, 20)
    for account in accounts:
        for product in products:
            assert _add(app, account, product["id"], 2) == (201, None)
    lapse_carts(sessions)

    def act(i: int) -> Any:
        if i < 3:  # three concurrent sweeps
            with sessions() as session:
                return cart.expire_carts(session)
        account = accounts[i - 3]
        client = Shopper(app.test_client(), account)
        return client.get() if i % 2 else _add(app, account, products[0]["id"])

    results = race(23, act)

    swept = sum(result.carts for result in results[:3])
    with sessions() as session:
        expired = session.scalar(select(func.count()).select_from(Cart).where(Cart.status == EXPIRED))
    assert expired == 20, "every lapsed cart expired once"
    assert swept <= 20
    assert all(result == (201, None) for result in results[3:] if isinstance(result, tuple))
    _assert_stock_matches_carts(sessions)


def test_carts_locking_the_same_variants_in_opposite_orders_do_not_deadlock(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: releases lock stock rows in ascending variant id. Without it, one customer's clear locks
    # A then B while the other's locks B then A; PostgreSQL aborts one with a deadlock error (a 500).
    products = [shop.product(category["id"], stock_quantity=1000) for _ in range(6)]
    first, second = _customers(app, 2)

    def fill_and_clear(i: int) -> list[int]:
        account, order = (first, products) if i == 0 else (second, products[::-1])
        client = app.test_client()
        statuses = []
        for _ in range(15):
            for product in order:
                statuses.append(_add(app, account, product["id"])[0])
            statuses.append(client.delete(CART, headers=account.headers).status_code)
        return statuses

    results = race(2, fill_and_clear)

    assert [Counter(statuses) for statuses in results] == [Counter({201: 90, 200: 15})] * 2
    _assert_stock_matches_carts(sessions)


def test_admin_stock_changes_racing_reservations_keep_stock_consistent(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: `quantity` is set by a conditional UPDATE (WHERE reserved <= :quantity) on the same row the
    # reservations update. Without it an admin lowering stock could slip under units reserved meanwhile.
    product = shop.product(category["id"], stock_quantity=10)
    accounts = _customers(app, 16)
    admin_client: FlaskClient = app.test_client()

    def act(i: int) -> tuple[int, str | None]:
        if i < 4:
            body = {"quantity": 4} if i % 2 else {"delta": -3}
            response = admin_client.put(
                f"/api/admin/inventory/{_variant(product)}", json=body, headers=shop.headers
            )
            return response.status_code, (response.get_json() or {}).get("code")
        return _add(app, accounts[i - 4], product["id"])

    results = race(20, act)

    assert {status for status, _ in results} <= {200, 201, 409}
    quantity, reserved = stock_of(sessions, _variant(product))
    assert reserved == sum(1 for status, _ in results[4:] if status == 201)
    assert 0 <= reserved <= quantity
    _assert_stock_matches_carts(sessions)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_embedded_sqlite_default_never_oversells_either(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection on SQLite: BEGIN IMMEDIATE serialises writers, and the same conditional UPDATE re-checks
    # the units left inside that write lock.
    product = shop.product(category["id"], stock_quantity=5)
    accounts = _customers(app, 20)

    results = race(20, lambda i: _add(app, accounts[i], product["id"]))

    assert Counter(results) == {(201, None): 5, (409, "out_of_stock"): 15}
    assert stock_of(sessions, _variant(product)) == (5, 5)


def test_tabs_adding_new_lines_at_once_cannot_pass_the_line_cap(
    make_app: Any, sessions: sessionmaker[Session]
) -> None:
    # Protection: the distinct lines are counted under the cart's row lock (taken first by every cart
    # change), so racing adds see each other's lines. Without it each tab counts 2 lines and all of them
    # add one: the cart ends far over CART_MAX_LINES and holds their stock.
    app = make_app(CART_MAX_LINES=3)
    shop = Shop(app, app.test_client())
    category = shop.category()["id"]
    products = [shop.product(category, stock_quantity=5) for _ in range(8)]
    for round_, account in enumerate(_customers(app, 3)):  # a few rounds: a race may not show every time
        for product in products[:2]:
            assert _add(app, account, product["id"])[0] == 201

        outcomes = Counter(race(6, lambda i, a=account: _add(app, a, products[2 + i]["id"])))

        assert outcomes == Counter({(201, None): 1, (422, "cart_full"): 5}), round_
        assert len(Shopper(app.test_client(), account).get()["items"]) == 3
    _assert_stock_matches_carts(sessions)
    with sessions() as session:
        assert session.scalar(select(func.sum(StockLevel.reserved))) == 9
