"""Products as the API renders them, with each variant's availability (read-only; routes and webhooks)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from shopwright.catalog.models import Product
from shopwright.catalog.schemas import ProductOut, VariantOut
from shopwright.inventory import service as inventory


def render_products(session: Session, products: Sequence[Product]) -> list[dict[str, Any]]:
    """Return the products as ProductOut dumps them, with their variants' availability (one query)."""
    available = inventory.availability(session, (v.id for p in products for v in p.variants))
    return [_product_out(p, available) for p in products]


def _product_out(product: Product, available: dict[int, int]) -> dict[str, Any]:
    variants = [
        VariantOut.model_validate(v).model_copy(update={"available": available.get(v.id, 0)})
        for v in product.variants
        if v.is_active
    ]
    out = ProductOut(
        id=product.id,
        name=product.name,
        slug=product.slug,
        description=product.description,
        category=product.category,
        price_cents=product.min_price_cents,
        currency=product.currency,
        in_stock=any(v.available > 0 for v in variants),
        rating_avg=float(product.rating_avg),
        rating_count=product.rating_count,
        variants=variants,
        created_at=product.created_at,
        updated_at=product.updated_at,
    )
    return out.model_dump(mode="json")
