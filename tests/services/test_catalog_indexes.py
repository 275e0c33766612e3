"""The conditions every product list is built on match the partial indexes made for them.

PostgreSQL uses a partial index only when it can prove the query's WHERE implies the index's predicate
(`catalog.models.LISTED`), and it proves that by matching expressions: `is_active IS true` does not
imply `is_active`. When `listed()` was written that way, every list sorted by price or rating scanned
and sorted the whole table (bench/results/growth.md: 450 ms at 1,000,000 products).
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

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
