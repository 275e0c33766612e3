"""The conditions every product list is built on match the partial indexes made for them.

PostgreSQL uses a partial index only when it can prove the query's WHERE implies the index's predicate
(`catalog.models.LISTED`), and it proves that by matching expressions: `is_active IS true` does not
imply `is_active`. When `listed()` was written that way, every list sorted by price or rating scanned
and sorted the whole table (bench/results/growth.md: 450 ms at 1,000,000 products).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, literal, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from shopwright.catalog.display import PRODUCT
from shopwright.catalog.models import Product, listed

pytestmark = pytest.mark.postgres_only


@pytest.mark.parametrize(
    ("sort", "index"),
    [
        ((Product.id.desc(),), "ix_products_listed_id"),
        ((Product.min_price_cents, Product.id), "ix_products_listed_price"),
        ((Product.rating_avg.desc(), Product.id.desc()), "ix_products_listed_rating"),
    ],
)
def test_a_listed_page_can_read_its_partial_index(
    db_session: Session, sort: tuple[Column[object], ...], index: str
) -> None:
    # Given a planner that may not scan the table nor sort (so only an index that applies can answer)
    db_session.execute(text("SET LOCAL enable_seqscan = off"))
    db_session.execute(text("SET LOCAL enable_sort = off"))
    page = select(Product.id).where(listed()).order_by(*sort).limit(21)
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]  # no hints on the dialect class
    sql = str(page.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    # When PostgreSQL plans the first page of a list
    plan = "\n".join(db_session.scalars(text(f"EXPLAIN {sql}")))

    # Then it reads the list's partial index
    assert index in plan, plan


def test_a_deep_cursor_among_unrated_products_reads_only_its_page(db_session: Session) -> None:
    # Given a catalog where every product is unrated (0.00), in a few categories, with fresh statistics
    db_session.execute(
        text(
            "INSERT INTO categories (name, slug) SELECT 'C' || n, 'c-' || n FROM generate_series(1, 20) AS n"
        )
    )
    db_session.execute(
        text(
            "INSERT INTO products (name, slug, category_id, min_price_cents, currency)"
            " SELECT 'P' || n, 'p-' || n, (SELECT min(id) FROM categories) + n % 20, 100, 'USD'"
            " FROM generate_series(1, 5000) AS n"
        )
    )
    db_session.execute(text("ANALYZE categories"))
    db_session.execute(text("ANALYZE products"))
    # PostgreSQL estimates a row comparison by its first column: it expects no product rated below 0.00,
    # while half the catalog follows this cursor.
    middle = db_session.scalar(text("SELECT min(id) + 2500 FROM products"))
    page = (
        PRODUCT.where(listed(), tuple_(Product.rating_avg, Product.id) < tuple_(literal(0), literal(middle)))
        .order_by(Product.rating_avg.desc(), Product.id.desc())
        .limit(21)
    )
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    sql = str(page.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))

    # When PostgreSQL plans the page
    plan = "\n".join(db_session.scalars(text(f"EXPLAIN {sql}")))

    # Then it reads the rating index in order and stops after the page: nothing to sort (with the category
    # joined in the FROM, it joined every following product and sorted them all: 800 ms at 1,000,000)
    assert "Sort" not in plan, plan
    assert "ix_products_listed_rating" in plan, plan
