"""Races on catalog rules, with real commits on PostgreSQL and threads released together.

Each test names the protection it exercises and what would break without it.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Category, Product, Review, Variant
from shopwright.inventory.models import StockLevel
from tests.factories import admin, customer
from tests.factories.catalog import CATEGORIES, PRODUCTS, Shop, stock_of
from tests.support.races import race


@pytest.fixture
def category(shop: Shop) -> dict[str, Any]:
    return shop.category("Laptops")


def _status_and_code(response: Any) -> tuple[int, str | None]:
    body = response.get_json(silent=True) or {}
    return response.status_code, body.get("code") if response.status_code >= 400 else None


# --- reviews -----------------------------------------------------------------------------------
def test_twenty_customers_reviewing_at_once_all_count(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: the rating aggregate is one UPDATE computing from the row's current values under its
    # row lock. Without it (read count and sum, compute in Python, write back) concurrent reviews would
    # overwrite each other: rating_count < 20 and an average that matches no set of reviews.
    product = shop.product(category["id"])
    client = app.test_client()
    accounts = [customer(client) for _ in range(20)]
    ratings = [(i * 7) % 5 + 1 for i in range(20)]  # every rating 1..5, four times each

    def review(i: int) -> int:
        body = {"rating": ratings[i], "title": f"Review {i}"}
        return (
            app.test_client()
            .post(f"{PRODUCTS}/{product['id']}/reviews", json=body, headers=accounts[i].headers)
            .status_code
        )

    statuses = Counter(race(20, review))

    assert statuses == Counter({201: 20})
    detail = client.get(f"{PRODUCTS}/{product['id']}").json
    expected_average = (Decimal(sum(ratings)) / 20).quantize(Decimal("0.01"))
    assert detail["rating_count"] == 20
    assert detail["rating_avg"] == float(expected_average)
    with sessions() as session:
        row = session.get(Product, product["id"])
        assert row is not None
        assert (row.rating_count, row.rating_sum, row.rating_avg) == (20, sum(ratings), expected_average)
        assert session.scalar(select(func.count()).select_from(Review)) == 20


def test_uneven_concurrent_ratings_average_exactly(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Same protection, with a mean that needs rounding: 7 reviews summing to 26 -> 3.714... -> 3.71
    product = shop.product(category["id"])
    client = app.test_client()
    ratings = [5, 5, 4, 4, 4, 2, 2]
    accounts = [customer(client) for _ in ratings]

    def review(i: int) -> int:
        return (
            app.test_client()
            .post(
                f"{PRODUCTS}/{product['id']}/reviews",
                json={"rating": ratings[i]},
                headers=accounts[i].headers,
            )
            .status_code
        )

    assert Counter(race(len(ratings), review)) == Counter({201: len(ratings)})
    detail = client.get(f"{PRODUCTS}/{product['id']}").json
    assert (detail["rating_avg"], detail["rating_count"]) == (3.71, 7)


def test_one_customer_posting_the_same_review_from_ten_threads_writes_it_once(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: the unique (product_id, user_id) constraint decides, and its IntegrityError maps to 409.
    # Without the constraint the customer would have up to ten reviews (and ten votes in the average);
    # without the mapping the losers would get 500s.
    product = shop.product(category["id"])
    account = customer(app.test_client())

    def review(i: int) -> tuple[int, str | None]:
        response = app.test_client().post(
            f"{PRODUCTS}/{product['id']}/reviews", json={"rating": 4}, headers=account.headers
        )
        return _status_and_code(response)

    outcomes = Counter(race(10, review))

    assert outcomes == Counter({(201, None): 1, (409, "review_exists"): 9})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Review)) == 1
        row = session.get(Product, product["id"])
        assert row is not None
        assert (row.rating_count, row.rating_sum) == (1, 4)


# --- SKUs and slugs ----------------------------------------------------------------------------
@pytest.mark.parametrize("names", ["same name", "different names"])
def test_two_admins_creating_the_same_sku_at_once_get_one_201_and_one_409(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session], names: str
) -> None:
    # Protection: the unique SKU constraint (SKUs stored upper-case) decides, mapped to 409 sku_taken.
    # Without it both would commit and one SKU would name two variants (stock, orders and the CSV import
    # would pick either); a check-then-insert in the service would let both pass the check.
    client = app.test_client()
    admins = [admin(app, client), admin(app, client)]

    def create(i: int) -> tuple[int, str | None]:
        body = {
            "name": "Laptop Pro" if names == "same name" else f"Laptop Pro {i}",
            "category_id": category["id"],
            "sku": "lap-13" if i else "LAP-13",
            "price_cents": 129900,
            "stock_quantity": 5,
        }
        return _status_and_code(app.test_client().post(PRODUCTS, json=body, headers=admins[i].headers))

    outcomes = Counter(race(2, create))

    assert outcomes == Counter({(201, None): 1, (409, "sku_taken"): 1})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 1
        assert session.scalars(select(Variant.sku)).all() == ["LAP-13"]
        assert session.scalar(select(func.count()).select_from(StockLevel)) == 1


def test_admins_creating_products_with_the_same_name_at_once_all_succeed(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: a generated slug is claimed by its insert; when a concurrent insert took it first, the
    # next free one is taken. Without it (pick a free slug, insert later) both pick "t-shirt" and the
    # second admin gets a 409 slug_taken for a slug they never chose.
    client = app.test_client()
    admins = [admin(app, client) for _ in range(4)]

    def create(i: int) -> tuple[int, str | None]:
        body = {"name": "T-Shirt", "category_id": category["id"], "sku": f"TEE-{i}", "price_cents": 1500}
        return _status_and_code(app.test_client().post(PRODUCTS, json=body, headers=admins[i].headers))

    outcomes = Counter(race(4, create))

    assert outcomes == Counter({(201, None): 4})
    with sessions() as session:
        slugs = sorted(session.scalars(select(Product.slug)))
    assert slugs == ["t-shirt", "t-shirt-2", "t-shirt-3", "t-shirt-4"]


def test_admins_creating_the_same_category_at_once_get_one_201(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: the unique index on (parent, lower(name)) decides, mapped to 409 category_name_taken.
    # Without it two sibling "Accessories" would exist and the tree would be ambiguous.
    client = app.test_client()
    admins = [admin(app, client) for _ in range(4)]

    def create(i: int) -> tuple[int, str | None]:
        body = {"name": "Accessories" if i % 2 else "ACCESSORIES", "parent_id": category["id"]}
        return _status_and_code(app.test_client().post(CATEGORIES, json=body, headers=admins[i].headers))

    outcomes = Counter(race(4, create))

    assert outcomes == Counter({(201, None): 1, (409, "category_name_taken"): 3})
    with sessions() as session:
        assert session.scalar(select(func.count()).where(Category.parent_id == category["id"])) == 1


def test_admins_creating_same_named_categories_under_different_parents_at_once_all_succeed(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: as for products, a generated category slug that a concurrent insert took is replaced by
    # the next free one. Without it, "Accessories" under Laptops and under Phones (allowed: names are
    # unique among siblings only) would collide on the slug "accessories" and one admin would get a 409.
    client = app.test_client()
    parents = [shop.category(f"Parent {i}")["id"] for i in range(4)]
    admins = [admin(app, client) for _ in range(4)]

    def create(i: int) -> tuple[int, str | None]:
        body = {"name": "Accessories", "parent_id": parents[i]}
        return _status_and_code(app.test_client().post(CATEGORIES, json=body, headers=admins[i].headers))

    outcomes = Counter(race(4, create))

    assert outcomes == Counter({(201, None): 4})
    with sessions() as session:
        slugs = sorted(session.scalars(select(Category.slug).where(Category.name == "Accessories")))
    assert slugs == ["accessories", "accessories-2", "accessories-3", "accessories-4"]


# --- variants ----------------------------------------------------------------------------------
def test_admins_making_different_variants_the_default_at_once_leave_exactly_one(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: a product write locks the product row first, so default switches are serialised, and
    # the partial unique index allows one default per product. Without the lock each admin clears the
    # default it read and sets its own: the second commit violates the index (a 500), or, without the
    # index, the product ends with two defaults and the shorthand fields edit either.
    product = shop.product(category["id"])
    variants = [shop.add_variant(product["id"]) for _ in range(4)]
    client = app.test_client()
    admins = [admin(app, client) for _ in variants]

    def make_default(i: int) -> tuple[int, str | None]:
        response = app.test_client().patch(
            f"{PRODUCTS}/{product['id']}/variants/{variants[i]['id']}",
            json={"is_default": True},
            headers=admins[i].headers,
        )
        return _status_and_code(response)

    outcomes = Counter(race(len(variants), make_default))

    assert outcomes == Counter({(200, None): len(variants)})
    with sessions() as session:
        defaults = session.scalars(
            select(Variant.id).where(Variant.product_id == product["id"], Variant.is_default.is_(True))
        ).all()
    assert len(defaults) == 1
    assert defaults[0] in {v["id"] for v in variants}


def test_concurrent_variant_price_changes_keep_the_listed_price_the_lowest(
    app: Flask, shop: Shop, category: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    # Protection: the product row lock makes each write recompute the lowest price from committed
    # variants. Without it two admins repricing two variants each compute the minimum from a stale copy
    # of the other variant, and the last commit stores a price no variant has: the list's price filter
    # and price sorts then show the product in the wrong place.
    client = app.test_client()
    admins = [admin(app, client), admin(app, client)]
    for round_number in range(8):
        product = shop.product_with_variants(category["id"], [{"price_cents": 300}, {"price_cents": 500}])
        variant_ids = [v["id"] for v in product["variants"]]
        new_prices = [100, 600] if round_number % 2 else [600, 100]

        base = f"{PRODUCTS}/{product['id']}/variants"

        def reprice(
            i: int, ids: list[int] = variant_ids, prices: list[int] = new_prices, base: str = base
        ) -> int:
            path = f"{base}/{ids[i]}"
            response = app.test_client().patch(
                path, json={"price_cents": prices[i]}, headers=admins[i].headers
            )
            return int(response.status_code)

        assert race(2, reprice) == [200, 200]
        with sessions() as session:
            row = session.get(Product, product["id"])
            assert row is not None
            assert row.min_price_cents == 100, f"round {round_number}: stored {row.min_price_cents}"


# --- stock versus reservations -------------------------------------------------------------------
def _reserve_one(engine: Engine, variant_id: int) -> bool:
    """Reserve one unit the way the cart will: one conditional UPDATE."""
    time.sleep(random.uniform(0, 0.01))  # spread the reservations around the stock update
    with engine.begin() as connection:
        result = connection.execute(
            text(
                "UPDATE inventory SET reserved = reserved + 1 "
                "WHERE variant_id = :variant AND quantity - reserved >= 1"
            ),
            {"variant": variant_id},
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("start", "new_quantity"), [(10, 5), (3, 8), (6, 6)])
def test_stock_updates_racing_with_reservations_never_leave_reserved_above_quantity(
    app: Flask,
    shop: Shop,
    category: dict[str, Any],
    sessions: sessionmaker[Session],
    committed_db: Engine,
    start: int,
    new_quantity: int,
) -> None:
    # Protection: the stock update is one conditional UPDATE (quantity = :q WHERE reserved <= :q), so the
    # check and the write happen on the locked row. Without it (read reserved, then write quantity) a
    # reservation committed in between leaves reserved > quantity: the CHECK reserved <= quantity turns
    # the admin's request into a 500, and without the CHECK the shop has sold units it does not have.
    product = shop.product(category["id"], stock_quantity=start)
    variant_id = product["variants"][0]["id"]
    reservers = 9
    for round_number in range(6):
        with sessions() as session, session.begin():
            session.execute(
                update(StockLevel)
                .where(StockLevel.variant_id == variant_id)
                .values(quantity=start, reserved=0)
            )

        def act(i: int) -> Any:
            if i == 0:
                response = app.test_client().patch(
                    f"{PRODUCTS}/{product['id']}", json={"stock_quantity": new_quantity}, headers=shop.headers
                )
                return _status_and_code(response)
            return _reserve_one(committed_db, variant_id)

        results = race(reservers + 1, act)

        patched, reserved_ok = results[0], sum(results[1:])
        quantity, reserved = stock_of(sessions, variant_id)
        context = (
            f"round {round_number}: patch {patched}, {reserved_ok} reserved, row ({quantity}, {reserved})"
        )
        assert patched in {(200, None), (409, "stock_below_reserved")}, context
        assert 0 <= reserved <= quantity, context
        assert reserved == reserved_ok, context
        if patched[0] == 200:
            assert quantity == new_quantity, context
        else:
            # Refused only because more than new_quantity units were already reserved at that moment
            assert quantity == start, context
            assert reserved > new_quantity, context
        if new_quantity >= start:
            assert patched == (200, None), context  # never below what can be reserved


# --- categories in use ---------------------------------------------------------------------------
@pytest.mark.parametrize("child", ["product", "sub-category"])
def test_deleting_a_category_while_something_is_added_to_it(
    app: Flask, shop: Shop, sessions: sessionmaker[Session], child: str
) -> None:
    # Protection: the foreign keys (ON DELETE RESTRICT) decide, and their violations map to 409/422. The
    # service checks "no products, no children" and then deletes: without the keys a product added in
    # between would be left in a deleted category (invisible, unreachable); without the mapping one of
    # the two admins gets a 500.
    client = app.test_client()
    admins = [admin(app, client), admin(app, client)]
    for round_number in range(6):
        category = shop.category(f"Short-lived {round_number}")

        def act(i: int, category_id: int = category["id"], n: int = round_number) -> tuple[int, str | None]:
            test_client = app.test_client()
            if i == 0:
                return _status_and_code(
                    test_client.delete(f"{CATEGORIES}/{category_id}", headers=admins[0].headers)
                )
            if child == "product":
                body: dict[str, Any] = {
                    "name": f"Late {n}",
                    "category_id": category_id,
                    "sku": f"LATE-{n}",
                    "price_cents": 1,
                }
                return _status_and_code(test_client.post(PRODUCTS, json=body, headers=admins[1].headers))
            body = {"name": f"Late {n}", "parent_id": category_id}
            return _status_and_code(test_client.post(CATEGORIES, json=body, headers=admins[1].headers))

        deleted, added = race(2, act)

        context = f"round {round_number}: delete {deleted}, add {added}"
        refused = (422, "unknown_category") if child == "product" else (422, "invalid_category_parent")
        assert (deleted, added) in {((204, None), refused), ((409, "category_in_use"), (201, None))}, context
        with sessions() as session:
            exists = session.get(Category, category["id"]) is not None
        assert exists is (deleted[0] == 409), context


# --- the category tree -------------------------------------------------------------------------
def _parents(sessions: sessionmaker[Session]) -> dict[int, int | None]:
    with sessions() as session:
        rows = session.execute(select(Category.id, Category.parent_id)).all()
        return {row[0]: row[1] for row in rows}


def test_two_opposite_category_moves_at_once_cannot_make_a_cycle(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: a move takes one transaction-level lock of the tree (catalog.service._lock_tree) and checks
    # for a cycle under it, so the second move sees the first. Without it both moves read the tree before
    # either committed, both passed the check, and A under B plus B under A made a cycle in which
    # GET /api/categories/<id>/products looped forever.
    for round_ in range(8):
        a = shop.category(f"A{round_}")["id"]
        b = shop.category(f"B{round_}")["id"]
        moves = [(a, b), (b, a)]

        def move(i: int, moves: list[tuple[int, int]] = moves) -> tuple[int, str | None]:
            child, parent = moves[i]
            response = app.test_client().patch(
                f"{CATEGORIES}/{child}", json={"parent_id": parent}, headers=shop.headers
            )
            return _status_and_code(response)

        outcomes = Counter(race(2, move))

        assert outcomes == Counter({(200, None): 1, (422, "invalid_category_parent"): 1}), round_
        parents = _parents(sessions)
        assert (parents[a] == b) != (parents[b] == a), round_  # exactly one moved
