"""How the catalog shows a product: one row shape and one serialiser for every answer that carries one.

Lists, product detail, recommendations and the admin's writes all select `PRODUCT` (a product with its
category's name and slug) and turn a row plus its variants into JSON with `product_json`,
which builds exactly what `schemas.ProductOut` documents (tests/api/test_catalog_list_output.py holds the
two together). The variants with their stock come from the inventory domain
(`inventory.service.variants_for_sale`), which sits above the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from shopwright.catalog.errors import ProductNotFound
from shopwright.catalog.models import Category, Product, listed
from shopwright.db import AnyRow, id_among, is_postgres, is_row_id, table_of
from shopwright.schemas import iso_utc

_P, _C = table_of(Product), table_of(Category)


def _category(column: Any) -> Any:
    """The product's category's `column`, looked up for each row the statement returns."""
    return select(column).where(_C.c.id == _P.c.category_id).scalar_subquery()


# What an answer shows of a product, by name: rows are read as row.id, row.category_name, ….
# The category comes from subqueries, not a join: a page then looks it up for its own rows only. With the
# join, a misjudged count of matches (PostgreSQL guesses a row comparison by its first column: after a
# cursor among unrated products, "none") let the planner join and sort every match before the LIMIT.
PRODUCT = select(
    _P.c.id,
    _P.c.name,
    _P.c.slug,
    _P.c.description,
    _P.c.category_id,
    _category(_C.c.name).label("category_name"),
    _category(_C.c.slug).label("category_slug"),
    _P.c.min_price_cents,
    _P.c.currency,
    _P.c.rating_avg,
    _P.c.rating_count,
    _P.c.created_at,
    _P.c.updated_at,
)

# Statements are built once: building one and computing its cache key costs about as much as running it.
_BY_ID = PRODUCT.add_columns(_P.c.is_active, _P.c.deleted_at).where(_P.c.id == bindparam("product_id"))
_LISTED_BY_IDS = {
    postgres: PRODUCT.where(id_among(_P.c.id, "ids", postgres), listed()) for postgres in (True, False)
}


def get_product_row(session: Session, product_id: int, *, include_hidden: bool = False) -> AnyRow:
    """Return the product's row; a hidden (inactive or deleted) one only when asked for."""
    row = session.execute(_BY_ID, {"product_id": product_id}).first() if is_row_id(product_id) else None
    if row is None or (not include_hidden and (not row.is_active or row.deleted_at is not None)):
        raise ProductNotFound(f"No product {product_id}")
    return row


def listed_products(session: Session, ids: Sequence[int]) -> list[AnyRow]:
    """Return the listed products among `ids`, in the order of `ids`."""
    if not ids:
        return []
    rows = {row.id: row for row in session.execute(_LISTED_BY_IDS[is_postgres(session)], {"ids": list(ids)})}
    return [rows[i] for i in ids if i in rows]


def product_json(row: Any, variants: Iterable[Any]) -> dict[str, Any]:
    """Return a product as the API sends it (ProductOut), from a PRODUCT row and its variants' rows.

    `variants` are the product's active variants in id order, each with an `available` column.
    """
    shown = [variant_json(variant) for variant in variants]
    return {
        "id": row.id,
        "name": row.name,
        "slug": row.slug,
        "description": row.description,
        "category": (
            {"id": row.category_id, "name": row.category_name, "slug": row.category_slug}
            if row.category_id is not None
            else None
        ),
        "price_cents": row.min_price_cents,
        "currency": row.currency,
        "in_stock": any(variant["available"] > 0 for variant in shown),
        "rating_avg": float(row.rating_avg),
        "rating_count": row.rating_count,
        "variants": shown,
        "created_at": iso_utc(row.created_at),
        "updated_at": iso_utc(row.updated_at),
    }


def variant_json(variant: Any) -> dict[str, Any]:
    """Return a variant as the API sends it (VariantOut), from a row with an `available` column."""
    return {
        "id": variant.id,
        "sku": variant.sku,
        "name": variant.name,
        "price_cents": variant.price_cents,
        "currency": variant.currency,
        "attributes": variant.attributes,
        "is_default": variant.is_default,
        "available": variant.available,
    }


def products_json(rows: Iterable[Any], variants: Mapping[int, Sequence[Any]]) -> list[dict[str, Any]]:
    """Return products as the API sends them; `variants` maps a product id to its variants' rows."""
    return [product_json(row, variants.get(row.id, ())) for row in rows]
