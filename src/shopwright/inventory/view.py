"""Products as the API renders them, with each variant's availability (read-only; routes and webhooks).

The catalog shows a product (catalog/display.py); the stock of its variants is this domain's, so the two
meet here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from shopwright.catalog import display
from shopwright.db import AnyRow
from shopwright.inventory import service as inventory


def products_json(session: Session, rows: Sequence[AnyRow]) -> list[dict[str, Any]]:
    """Return product rows (display.PRODUCT) with their variants for sale, as the API sends them."""
    return display.products_json(rows, inventory.variants_for_sale(session, [row.id for row in rows]))


def product_json(session: Session, product_id: int, *, include_hidden: bool = False) -> dict[str, Any]:
    """Return one product as the API sends it (ProductNotFound if there is none to show)."""
    return products_json(
        session, [display.get_product_row(session, product_id, include_hidden=include_hidden)]
    )[0]
