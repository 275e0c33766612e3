"""The public product list: filters, full-text search, sorts and keyset (or page) pagination."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Double,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    func,
    literal_column,
    or_,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from shopwright.catalog.display import PRODUCT
from shopwright.catalog.models import Product, listed
from shopwright.catalog.schemas import MAX_CENTS, ProductQuery
from shopwright.catalog.service import category_and_descendants
from shopwright.db import MAX_ID, AnyRow, is_postgres
from shopwright.pagination import InvalidCursor, decode_cursor, page_after

RELEVANCE_CANDIDATES = 500
SEARCH_VECTOR: ColumnElement[Any] = literal_column(
    "products.search_vector"
)  # PostgreSQL generated column (see migration 0002)


# The list selects display.PRODUCT (a product with its category, by name) from listed products; the
# routes add the page's variants with their stock (inventory.service.variants_for_sale).
_P = Product.__table__.c
_LISTED = PRODUCT.where(listed())


@dataclass
class ProductPage:
    """One page of display.PRODUCT rows: `next_cursor` in cursor mode, `total` in page mode."""

    items: list[AnyRow]
    next_cursor: str | None = None
    total: int | None = None


class _Shape(NamedTuple):
    """What a list statement's SQL depends on, values aside: statements are built once per shape."""

    postgres: bool
    category: bool
    min_price: bool
    max_price: bool
    search_words: int | None  # None: no search; on PostgreSQL 0 or 1 (the words are one parameter)
    sort: str
    cursor: bool
    paged: bool


class _Plan(NamedTuple):
    rows: Select[Any]  # ordered, with :limit (and :offset when paged) to fill in
    keys: tuple[_Key, ...]
    total: Select[Any] | None  # counts the matches, when paged


def list_products(
    session: Session, query: ProductQuery, *, in_stock: ColumnElement[bool] | None = None
) -> ProductPage:
    """Return listed products matching the query; `in_stock` is the inventory domain's condition."""
    postgres = is_postgres(session)
    words = re.findall(r"\w+", query.text.lower()) if query.text else None
    params: dict[str, Any] = {"candidates": RELEVANCE_CANDIDATES, **_search_params(words, postgres)}
    if query.category_id is not None:
        params["category_ids"] = category_and_descendants(session, query.category_id)
    if query.min_price_cents is not None:
        params["min_price"] = query.min_price_cents
    if query.max_price_cents is not None:
        params["max_price"] = query.max_price_cents
    paged = query.page is not None or query.per_page is not None
    shape = _Shape(
        postgres,
        category=query.category_id is not None,
        min_price=query.min_price_cents is not None,
        max_price=query.max_price_cents is not None,
        search_words=None if words is None else min(len(words), 1) if postgres else len(words),
        sort=query.sort,
        cursor=bool(query.cursor) and not paged,
        paged=paged,
    )
    plan = _cached_plan(shape, in_stock if query.stock_only else None)
    if paged:
        page = _page(session, plan, params, query.page or 1, query.per_page or query.limit)
    else:
        page = _keyset(session, plan, params, query.limit, query.cursor)
    return page


@functools.lru_cache(maxsize=256)
def _cached_plan(shape: _Shape, in_stock: ColumnElement[bool] | None) -> _Plan:
    # Building a statement and walking it for SQLAlchemy's cache key cost as much as running it: a kept
    # statement skips both, and SQLAlchemy's compiled cache finds its SQL. `in_stock` is the inventory
    # domain's condition, one object built once, so it keys the cache like the shape does.
    return _build(shape, in_stock)


def _build(shape: _Shape, in_stock: ColumnElement[bool] | None) -> _Plan:
    """Build the list's statements for a shape; every value is a bound parameter."""
    statement = _LISTED
    if shape.category:
        statement = statement.where(_P.category_id.in_(bindparam("category_ids", expanding=True)))
    if shape.min_price:
        statement = statement.where(_P.min_price_cents >= bindparam("min_price", type_=BigInteger))
    if shape.max_price:
        statement = statement.where(_P.min_price_cents <= bindparam("max_price", type_=BigInteger))
    if in_stock is not None:
        statement = statement.where(in_stock)
    rank: ColumnElement[Any] | None = None
    if shape.search_words is not None:
        statement, rank = _search(statement, shape.search_words, shape.postgres)
    keys = _sort_keys(shape.sort, rank)
    if keys[0].name == "rank":
        # Ranking reads every match's vector: a one-word search of a large catalog has tens of thousands.
        # Relevance therefore orders the newest RELEVANCE_CANDIDATES matches (all of them when fewer).
        newest = statement.with_only_columns(_P.id).order_by(_P.id.desc()).limit(bindparam("candidates"))
        statement = statement.where(_P.id.in_(newest.scalar_subquery()))
    limit = bindparam("limit", type_=Integer)
    if shape.paged:
        count = select(func.count()).select_from(statement.subquery())
        rows = _order(statement, keys).offset(bindparam("offset", type_=Integer)).limit(limit)
        return _Plan(rows, keys, count)
    if keys[0].name == "rank":
        statement = statement.add_columns(keys[0].column.label("rank"))
    if shape.cursor:
        columns = tuple_(*(key.column for key in keys))
        after = tuple_(*(bindparam(f"after_{key.name}", type_=key.column.type) for key in keys))
        # All keys of one sort share a direction, so one row-value comparison continues after the cursor.
        statement = statement.where(columns < after if keys[0].descending else columns > after)
    return _Plan(_order(statement, keys).limit(limit), keys, None)


def _search_params(words: list[str] | None, postgres: bool) -> dict[str, Any]:
    if not words:
        return {}
    if postgres:
        # Every word must match; the last one also as a prefix, as typed so far ("ultra lap" finds
        # "Ultra Laptop"). Prefixes on every word make GIN intersect huge partial-match bitmaps (an
        # order of magnitude slower at 1M products: bench/catalog_1m.py). Only \w characters reach to_tsquery.
        return {"tsquery": " & ".join([*words[:-1], f"{words[-1]}:*"])}
    # LIKE patterns: \w+ words hold no % but may hold _, a LIKE wildcard; escape it (and the escape).
    return {f"word_{n}": word.replace("/", "//").replace("_", "/_") for n, word in enumerate(words)}


def _search(
    statement: Select[Any], words: int, postgres: bool
) -> tuple[Select[Any], ColumnElement[Any] | None]:
    if not words:
        return statement.where(literal_column("1") == 0), None
    if postgres:
        tsquery = func.to_tsquery("english", bindparam("tsquery", type_=String))
        # ts_rank is a float4, printed rounded: a cursor would carry a value that is not the row's and
        # keyset paging through a tie would loop. A float8 round-trips exactly through the cursor.
        rank = cast(func.ts_rank(SEARCH_VECTOR, tsquery), Double)
        return statement.where(SEARCH_VECTOR.op("@@")(tsquery)), rank
    # SQLite (embedded default): every word appears in the name or the description.
    for n in range(words):
        word = bindparam(f"word_{n}", type_=String)
        statement = statement.where(
            or_(
                func.lower(_P.name).contains(word, escape="/"),
                func.lower(_P.description).contains(word, escape="/"),
            )
        )
    return statement, None


@dataclass(frozen=True)
class _Key:
    name: str
    column: ColumnElement[Any]
    descending: bool


def _sort_keys(sort: str, rank: ColumnElement[Any] | None) -> tuple[_Key, ...]:
    """Return the ordering, always ending with the id so it is total (needed by keyset paging)."""
    if sort == "relevance" and rank is not None:
        return (_Key("rank", rank, True), _Key("id", _P.id, True))
    if sort == "price_asc":
        return (_Key("price", _P.min_price_cents, False), _Key("id", _P.id, False))
    if sort == "price_desc":
        return (_Key("price", _P.min_price_cents, True), _Key("id", _P.id, True))
    if sort == "rating":
        return (_Key("rating", _P.rating_avg, True), _Key("id", _P.id, True))
    return (_Key("id", _P.id, True),)  # newest: ids grow with creation time


def _order(statement: Select[Any], keys: tuple[_Key, ...]) -> Select[Any]:
    return statement.order_by(*(key.column.desc() if key.descending else key.column.asc() for key in keys))


def _keyset(
    session: Session, plan: _Plan, params: dict[str, Any], limit: int, cursor: str | None
) -> ProductPage:
    if cursor:
        position = decode_cursor(cursor, keys=tuple(key.name for key in plan.keys))
        params.update({f"after_{key.name}": _cursor_value(key, position[key.name]) for key in plan.keys})
    rows = session.execute(plan.rows, {**params, "limit": limit + 1}).all()
    page = page_after(rows, limit, lambda row: {key.name: _position(key, row) for key in plan.keys})
    return ProductPage(page.items, next_cursor=page.next_cursor)


def _page(session: Session, plan: _Plan, params: dict[str, Any], page: int, per_page: int) -> ProductPage:
    total = session.execute(plan.total, params).scalar_one() if plan.total is not None else 0
    rows = session.execute(plan.rows, {**params, "offset": (page - 1) * per_page, "limit": per_page}).all()
    return ProductPage(list(rows), total=total)


def _position(key: _Key, row: AnyRow) -> Any:
    if key.name == "rating":
        return str(row.rating_avg)  # a NUMERIC: exact as text, as _cursor_value reads it back
    return {"id": row.id, "price": row.min_price_cents, "rank": getattr(row, "rank", None)}[key.name]


_INT_RANGES = {"id": (1, MAX_ID), "price": (0, MAX_CENTS)}
_RATING_TEXT = re.compile(r"[0-5](\.[0-9]{1,2})?")


def _cursor_value(key: _Key, value: Any) -> Any:
    # A tampered value must not reach SQL: a string, a bool, NaN or a huge number there is a 500 or a loop.
    try:
        if key.name == "rating":
            # As _position writes it (a NUMERIC(3, 2)): "1E-20000" is within 0..5, yet binding it
            # overflowed PostgreSQL's numeric.
            if not isinstance(value, str) or not _RATING_TEXT.fullmatch(value) or Decimal(value) > 5:
                raise ValueError(value)
            return Decimal(value)
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
