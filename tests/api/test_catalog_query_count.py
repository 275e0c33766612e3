"""Query budgets: the catalog reads issue a fixed number of SQL statements, however many products,
variants and categories they return (no N+1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import customer
from tests.factories.catalog import (
    CATEGORIES,
    PRODUCTS,
    Shop,
    create_products,
    set_reserved,
    unique_sku,
)
from tests.support.statements import StatementLog


def _begin(committed_db: Engine) -> int:
    """Statements a read transaction costs by itself: SQLite issues its own BEGIN (see db.make_engine)."""
    return 1 if committed_db.dialect.name == "sqlite" else 0


def _add_products(
    shop: Shop, sessions: sessionmaker[Session], categories: list[int], count: int, start: int = 0
) -> list[int]:
    """Create products number `start` to `start + count - 1`, three variants each, round-robin over the
    categories; return their ids."""
    specs = []
    for n in range(start, start + count):
        variants = [
            {
                "sku": unique_sku("QC"),
                "price_cents": 1000 + n + i,
                "stock_quantity": i,
                "attributes": {"size": size},
            }
            for i, size in enumerate(("S", "M", "L"))
        ]
        specs.append(
            {
                "name": f"Counted item {n}",
                "category_id": categories[n % len(categories)],
                "variants": variants,
            }
        )
    with sessions() as session:
        return create_products(session, specs)


@pytest.fixture
def categories(shop: Shop) -> list[int]:
    root = shop.category("Root")
    child = shop.category("Child", parent_id=root["id"])
    grandchild = shop.category("Grandchild", parent_id=child["id"])
    other = shop.category("Other")
    return [root["id"], child["id"], grandchild["id"], other["id"]]


def _get(client: FlaskClient, path: str, expected_items: int | None = None, **params: Any) -> Any:
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.json
    if expected_items is not None:
        assert len(response.json["items"]) == expected_items
    return response.json


def test_listing_100_products_costs_the_same_statements_as_listing_5(
    shop: Shop,
    client: FlaskClient,
    sessions: sessionmaker[Session],
    committed_db: Engine,
    log: StatementLog,
    categories: list[int],
) -> None:
    # Given 5 products of 3 variants each (one with units reserved)
    ids = _add_products(shop, sessions, categories, 5)
    first_variant = client.get(f"{PRODUCTS}/{ids[0]}").json["variants"][1]["id"]
    set_reserved(sessions, first_variant, 1)
    reads: dict[str, Callable[[int], Any]] = {
        "cursor page": lambda n: _get(client, PRODUCTS, n, limit=100),
        "sorted and filtered": lambda n: _get(
            client, PRODUCTS, n, limit=100, sort="price_desc", min_price_cents=0
        ),
        "in stock": lambda n: _get(client, PRODUCTS, n, limit=100, in_stock="true"),
        "search": lambda n: _get(client, PRODUCTS, n, limit=100, search="counted item", sort="relevance"),
        "page mode": lambda n: _get(client, PRODUCTS, n, page=1, per_page=100),
        "category filter": lambda n: _get(client, PRODUCTS, n - n // 4, limit=100, category_id=categories[0]),
        "category products": lambda n: _get(
            client, f"{CATEGORIES}/{categories[3]}/products", n // 4, limit=100
        ),
    }
    small = {name: log.count(lambda read=read: read(5)) for name, read in reads.items()}

    # When there are 100 of them
    _add_products(shop, sessions, categories, 95, start=5)
    large = {name: log.count(lambda read=read: read(100)) for name, read in reads.items()}

    # Then every read costs exactly the same: products with their categories, their variants with stock
    begin = _begin(committed_db)
    expected = {
        "cursor page": begin + 2,
        "sorted and filtered": begin + 2,
        "in stock": begin + 2,
        "search": begin + 2,
        "page mode": begin + 3,  # + the total
        "category filter": begin + 3,  # + the category tree, for the sub-categories
        "category products": begin + 3,
    }
    assert small == expected
    assert large == expected


def test_a_product_detail_costs_the_same_statements_with_1_or_30_variants(
    shop: Shop, client: FlaskClient, committed_db: Engine, log: StatementLog, categories: list[int]
) -> None:
    single = shop.product(categories[0])
    many = shop.product_with_variants(
        categories[1], [{"price_cents": 100 + n, "stock_quantity": n} for n in range(30)]
    )

    counts = [log.count(lambda p=p: _get(client, f"{PRODUCTS}/{p['id']}")) for p in (single, many)]

    assert counts == [_begin(committed_db) + 2] * 2  # the product with its category, its variants with stock


def test_recommendations_reviews_and_the_tree_cost_fixed_statements(
    shop: Shop,
    client: FlaskClient,
    sessions: sessionmaker[Session],
    committed_db: Engine,
    log: StatementLog,
    categories: list[int],
) -> None:
    begin = _begin(committed_db)
    ids = _add_products(shop, sessions, categories[:1], 3)
    for _ in range(2):
        account = customer(client)
        client.post(f"{PRODUCTS}/{ids[0]}/reviews", json={"rating": 4}, headers=account.headers)

    def costs() -> list[int]:
        return [
            log.count(lambda: _get(client, f"{PRODUCTS}/{ids[0]}/recommendations")),
            log.count(lambda: _get(client, f"{PRODUCTS}/{ids[0]}/reviews")),
            log.count(lambda: _get(client, CATEGORIES)),
        ]

    few = costs()
    _add_products(shop, sessions, categories[:1], 20)
    for _ in range(5):
        account = customer(client)
        client.post(f"{PRODUCTS}/{ids[0]}/reviews", json={"rating": 5}, headers=account.headers)
    for n in range(10):
        shop.category(f"More {n}", parent_id=categories[n % 3])

    # recommendations: the ranking from paid orders (bought together, best sellers: 2, in a read transaction
    # of their own), the product, its category's newest, their variants with stock (no paid orders: no
    # ranked products to read); reviews: the product (+ variants + category), the reviews; the tree: one
    expected = [2 * begin + 5, begin + 4, begin + 1]
    assert few == expected
    assert costs() == expected
