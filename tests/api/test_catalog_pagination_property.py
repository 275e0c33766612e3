"""Property: paging through GET /api/products with the cursor never loses nor repeats a product, for
any catalog, sort, filter and page size, even while products are added and removed between pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Category, Product
from tests.factories.catalog import PRODUCTS, create_products, empty_catalog

WORDS = ["alpha", "beta", "gamma"]
PRICES = [0, 100, 100, 250, 999]  # duplicates: ties are the hard part of keyset paging
RATINGS = [Decimal("0"), Decimal("1.5"), Decimal("3"), Decimal("3"), Decimal("4.25"), Decimal("5")]
SORTS = ["newest", "price_asc", "price_desc", "rating", "relevance"]


@dataclass(frozen=True)
class Spec:
    word: str
    category: str  # "parent", "child" (under parent) or "other"
    price: int
    rating: Decimal
    stock: int
    state: str = "listed"  # or "inactive", "deleted"


specs = st.builds(
    Spec,
    word=st.sampled_from(WORDS),
    category=st.sampled_from(["parent", "child", "other"]),
    price=st.sampled_from(PRICES),
    rating=st.sampled_from(RATINGS),
    stock=st.integers(0, 2),
    state=st.sampled_from(["listed", "listed", "listed", "listed", "inactive", "deleted"]),
)
filters = st.one_of(
    st.just({}),
    # "wid" matches every product ("<Word> widget") with the same rank: relevance pages through one big tie
    st.sampled_from([*WORDS, "widget", "widget"]).map(lambda word: {"search": word[:3]}),
    st.sampled_from(["parent", "child", "other"]).map(lambda name: {"category": name}),
    st.tuples(st.sampled_from(PRICES), st.sampled_from(PRICES)).map(
        lambda bounds: {"min_price_cents": min(bounds), "max_price_cents": max(bounds)}
    ),
    st.just({"in_stock": "true"}),
)


@dataclass(frozen=True)
class Scenario:
    catalog: list[Spec]
    sort: str
    limit: int
    filter: dict[str, Any]
    inserts: list[list[Spec]]  # products created before fetching page 2, 3, ...
    deletes: list[int]  # before fetching page 2, 3, ...: delete this many products listed at the start


scenarios = st.builds(
    Scenario,
    catalog=st.lists(specs, max_size=18),
    sort=st.sampled_from(SORTS),
    limit=st.integers(1, 6),
    filter=filters,
    inserts=st.lists(
        st.lists(specs.map(lambda s: Spec(s.word, s.category, s.price, s.rating, s.stock)), max_size=3),
        max_size=6,
    ),
    deletes=st.lists(st.integers(0, 1), max_size=6),
)


@pytest.fixture
def catalog_sessions(client: FlaskClient, sessions: sessionmaker[Session]) -> Iterator[sessionmaker[Session]]:
    yield sessions
    empty_catalog(sessions)


def _categories(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session, session.begin():
        parent = Category(name="Parent", slug="parent")
        other = Category(name="Other", slug="other")
        session.add_all([parent, other])
        session.flush()
        child = Category(name="Child", slug="child", parent_id=parent.id)
        session.add(child)
        session.flush()
        return {"parent": parent.id, "child": child.id, "other": other.id}


def _create(sessions: sessionmaker[Session], categories: dict[str, int], batch: list[Spec]) -> list[int]:
    """Create products through the inventory use case, then give them their rating and state."""
    with sessions() as session:
        ids = create_products(
            session,
            (
                {
                    "name": f"{spec.word.title()} widget",
                    "category_id": categories[spec.category],
                    "price_cents": spec.price,
                    "stock_quantity": spec.stock,
                }
                for spec in batch
            ),
        )
        with session.begin():
            for product_id, spec in zip(ids, batch, strict=True):
                values: dict[str, Any] = {"rating_avg": spec.rating, "rating_count": 1 if spec.rating else 0}
                if spec.state == "inactive":
                    values["is_active"] = False
                elif spec.state == "deleted":
                    values["deleted_at"] = datetime.now(UTC)
                session.execute(update(Product).where(Product.id == product_id).values(**values))
    return ids


def _delete(sessions: sessionmaker[Session], product_id: int) -> None:
    with sessions() as session, session.begin():
        session.execute(update(Product).where(Product.id == product_id).values(deleted_at=datetime.now(UTC)))


def _matches(spec: Spec, flt: dict[str, Any]) -> bool:
    if "search" in flt:
        return any(word.startswith(flt["search"]) for word in (spec.word, "widget"))
    if "category" in flt:
        return spec.category == flt["category"] or (flt["category"] == "parent" and spec.category == "child")
    if "min_price_cents" in flt:
        return bool(flt["min_price_cents"] <= spec.price <= flt["max_price_cents"])
    if "in_stock" in flt:
        return spec.stock > 0
    return True


def _sort_key(sort: str, product_id: int, spec: Spec) -> tuple[Any, ...]:
    return {
        "price_asc": (spec.price, product_id),
        "price_desc": (-spec.price, -product_id),
        "rating": (-spec.rating, -product_id),
    }.get(sort, (-product_id,))


TIE = Spec("alpha", "parent", 100, Decimal("3"), 1)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios)
# Explicit examples, always run: long ties on each sort key, with inserts and deletes while paging
@example(Scenario([TIE] * 7, "relevance", 2, {"search": "wid"}, [[TIE], [], [TIE]], [1, 0, 1]))
@example(Scenario([TIE] * 7, "relevance", 1, {"search": "alp"}, [[TIE]], [0, 1]))
@example(Scenario([TIE] * 7, "rating", 2, {}, [[TIE, TIE], [TIE]], [1, 1]))
@example(Scenario([TIE] * 7, "price_asc", 3, {"in_stock": "true"}, [[TIE]], [1]))
@example(Scenario([TIE] * 7, "price_desc", 2, {"category": "parent"}, [[TIE]], [0, 1]))
def test_cursor_paging_never_loses_nor_repeats_a_product(
    client: FlaskClient, catalog_sessions: sessionmaker[Session], backend: str, scenario: Scenario
) -> None:
    sessions = catalog_sessions
    empty_catalog(sessions)
    categories = _categories(sessions)
    ids = _create(sessions, categories, scenario.catalog)
    known = dict(zip(ids, scenario.catalog, strict=True))
    required = [i for i in ids if known[i].state == "listed" and _matches(known[i], scenario.filter)]
    params: dict[str, Any] = {"sort": scenario.sort, "limit": scenario.limit}
    for key, value in scenario.filter.items():
        if key == "category":
            params["category_id"] = categories[value]
        else:
            params[key] = value

    served: list[int] = []
    deleted: set[int] = set()
    cursor: str | None = None
    for page_number in range(1, 200):
        response = client.get(PRODUCTS, query_string=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.json
        items = response.json["items"]
        assert len(items) <= scenario.limit
        served.extend(item["id"] for item in items)
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
        assert items, "a page that promises more must not be empty"
        # Between pages: other admins add products and remove some that were listed at the start
        if page_number <= len(scenario.inserts):
            new_ids = _create(sessions, categories, scenario.inserts[page_number - 1])
            known.update(zip(new_ids, scenario.inserts[page_number - 1], strict=True))
        if page_number <= len(scenario.deletes) and scenario.deletes[page_number - 1]:
            candidates = [i for i in required if i not in deleted]
            if candidates:
                victim = candidates[len(candidates) // 2]
                _delete(sessions, victim)
                deleted.add(victim)
    else:
        raise AssertionError("paging did not end")

    # Never a repeat; every product listed from start to end exactly once; nothing that does not match
    assert len(served) == len(set(served)), served
    survivors = [i for i in required if i not in deleted]
    assert set(survivors) <= set(served), (survivors, served)
    assert all(
        i in known and known[i].state == "listed" and _matches(known[i], scenario.filter) for i in served
    )
    # And the survivors come in the order of the sort (the rank order of relevance is PostgreSQL's)
    if not (scenario.sort == "relevance" and "search" in scenario.filter and backend == "postgresql"):
        order = [i for i in served if i in set(survivors)]
        assert order == sorted(survivors, key=lambda i: _sort_key(scenario.sort, i, known[i]))
