"""The public product list: filters, full-text search, sorts and keyset (or page) pagination."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Double, Select, cast, func, literal_column, or_, select, tuple_
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from shopwright.catalog.models import Product
from shopwright.catalog.schemas import MAX_CENTS, ProductQuery
from shopwright.catalog.service import category_and_descendants
from shopwright.db import MAX_ID
from shopwright.pagination import InvalidCursor, decode_cursor, encode_cursor

RELEVANCE_CANDIDATES = 500
SEARCH_VECTOR: ColumnElement[Any] = literal_column(
    "products.search_vector"
)  # PostgreSQL generated column (see migration 0002)


@dataclass
class ProductPage:
    """One page of products: `next_cursor` in cursor mode, `total` in page mode."""

    items: list[Product]
    next_cursor: str | None = None
    total: int | None = None


def list_products(
    session: Session, query: ProductQuery, *, in_stock: ColumnElement[bool] | None = None
) -> ProductPage:
    """Return listed products matching the query; `in_stock` is the inventory domain's condition."""
    postgres = session.get_bind().dialect.name == "postgresql"
    statement = select(Product).where(Product.deleted_at.is_(None), Product.is_active)
    if query.category_id is not None:
        statement = statement.where(
            Product.category_id.in_(category_and_descendants(session, query.category_id))
        )
    if query.min_price_cents is not None:
        statement = statement.where(Product.min_price_cents >= query.min_price_cents)
    if query.max_price_cents is not None:
        statement = statement.where(Product.min_price_cents <= query.max_price_cents)
    if query.stock_only and in_stock is not None:
        statement = statement.where(in_stock)
    rank: ColumnElement[Any] | None = None
    if query.text:
        statement, rank = _search(statement, query.text, postgres)
    keys = _sort_keys(query.sort, rank)
    if keys[0].name == "rank":
        # Ranking reads every match's vector: a one-word search of a large catalog has tens of thousands.
        # Relevance therefore orders the newest RELEVANCE_CANDIDATES matches (all of them when fewer).
        newest = (
            statement.with_only_columns(Product.id).order_by(Product.id.desc()).limit(RELEVANCE_CANDIDATES)
        )
        statement = statement.where(Product.id.in_(newest.scalar_subquery()))
    statement = statement.options(selectinload(Product.variants), selectinload(Product.category))
    if query.page is not None or query.per_page is not None:
        return _page(session, statement, keys, query.page or 1, query.per_page or query.limit)
    return _keyset(session, statement, keys, query.limit, query.cursor)


def _search(
    statement: Select[Any], text: str, postgres: bool
) -> tuple[Select[Any], ColumnElement[Any] | None]:
    words = re.findall(r"\w+", text.lower())
    if not words:
        return statement.where(literal_column("1") == 0), None
    if postgres:
        # Every word must match; the last one also as a prefix, as typed so far ("ultra lap" finds
        # "Ultra Laptop"). Prefixes on every word make GIN intersect huge partial-match bitmaps (40 ms
        # at 1M products, against 3 ms). Only \w characters reach to_tsquery.
        terms = [*words[:-1], f"{words[-1]}:*"]
        tsquery = func.to_tsquery("english", " & ".join(terms))
        # ts_rank is a float4, printed rounded: a cursor would carry a value that is not the row's and
        # keyset paging through a tie would loop. A float8 round-trips exactly through the cursor.
        rank = cast(func.ts_rank(SEARCH_VECTOR, tsquery), Double)
        return statement.where(SEARCH_VECTOR.op("@@")(tsquery)), rank
    # SQLite (embedded default): every word appears in the name or the description.
    for word in words:
        statement = statement.where(
            or_(
                func.lower(Product.name).contains(word, autoescape=True),
                func.lower(Product.description).contains(word, autoescape=True),
            )
        )
    return statement, None


@dataclass(frozen=True)
class _Key:
    name: str
    column: ColumnElement[Any] | InstrumentedAttribute[Any]
    descending: bool


def _sort_keys(sort: str, rank: ColumnElement[Any] | None) -> list[_Key]:
    """Return the ordering, always ending with the id so it is total (needed by keyset paging)."""
    if sort == "relevance" and rank is not None:
        return [_Key("rank", rank, True), _Key("id", Product.id, True)]
    if sort == "price_asc":
        return [_Key("price", Product.min_price_cents, False), _Key("id", Product.id, False)]
    if sort == "price_desc":
        return [_Key("price", Product.min_price_cents, True), _Key("id", Product.id, True)]
    if sort == "rating":
        return [_Key("rating", Product.rating_avg, True), _Key("id", Product.id, True)]
    return [_Key("id", Product.id, True)]  # newest: ids grow with creation time


def _order(statement: Select[Any], keys: list[_Key]) -> Select[Any]:
    return statement.order_by(*(key.column.desc() if key.descending else key.column.asc() for key in keys))


def _keyset(
    session: Session, statement: Select[Any], keys: list[_Key], limit: int, cursor: str | None
) -> ProductPage:
    if keys[0].name == "rank":
        statement = statement.add_columns(keys[0].column.label("rank"))
    if cursor:
        position = decode_cursor(cursor, keys=tuple(key.name for key in keys))
        values = [_cursor_value(key, position[key.name]) for key in keys]
        columns = tuple_(*(key.column for key in keys))
        # All keys of one sort share a direction, so one row-value comparison continues after the cursor.
        statement = statement.where(
            columns < tuple_(*values) if keys[0].descending else columns > tuple_(*values)
        )
    rows = session.execute(_order(statement, keys).limit(limit + 1)).all()
    products = [row[0] for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor({key.name: _position(key, last) for key in keys})
    return ProductPage(products, next_cursor=next_cursor)


def _page(
    session: Session, statement: Select[Any], keys: list[_Key], page: int, per_page: int
) -> ProductPage:
    total = session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    items = session.scalars(_order(statement, keys).offset((page - 1) * per_page).limit(per_page)).all()
    return ProductPage(list(items), total=total)


def _position(key: _Key, row: Any) -> Any:
    product: Product = row[0]
    value = {"id": product.id, "price": product.min_price_cents, "rating": str(product.rating_avg)}.get(
        key.name
    )
    return row.rank if key.name == "rank" else value


_INT_RANGES = {"id": (1, MAX_ID), "price": (0, MAX_CENTS)}


def _cursor_value(key: _Key, value: Any) -> Any:
    # A tampered value must not reach SQL: a string, a bool, NaN or a huge number there is a 500 or a loop.
    try:
        if key.name == "rating":
            rating = Decimal(value) if isinstance(value, str) else None
            if rating is None or not rating.is_finite() or not 0 <= rating <= 5:
                raise ValueError(value)
            return rating
        if key.name == "rank":
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise TypeError(value)
            return float(value)
        low, high = _INT_RANGES[key.name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise TypeError(value)
    except (TypeError, ValueError, ArithmeticError) as error:
        raise InvalidCursor("The cursor is not one this API returned") from error
    return value
