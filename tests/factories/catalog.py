"""Helpers that arrange catalog data through the admin API (or, for speed, the real use cases)."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import String, cast, delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Category, Product, Review, Variant
from shopwright.catalog.schemas import ProductCreate
from shopwright.inventory import service as inventory
from shopwright.inventory.models import StockLevel
from shopwright.orders.models import Order, OrderItem
from shopwright.orders.rollup import OrderStatusDay, SalesCustomer, SalesDay, SalesOrder, SalesProduct
from shopwright.payments.models import Payment, Refund
from shopwright.promotions.models import VoucherRedemption
from tests.factories import Account, admin

PRODUCTS = "/api/products"
CATEGORIES = "/api/categories"
_serial = itertools.count(1)


def unique_sku(prefix: str = "SKU") -> str:
    return f"{prefix}-{next(_serial)}"


def make_cursor(position: object) -> str:
    """Encode a position the way the API's opaque cursors are encoded (to forge tampered ones)."""
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


class Shop:
    """An admin arranging the catalog through the real HTTP API; every call asserts success."""

    def __init__(self, app: Flask, client: FlaskClient, account: Account | None = None) -> None:
        self.app = app
        self.client = client
        self.admin = account or admin(app, client)

    @property
    def headers(self) -> dict[str, str]:
        return self.admin.headers

    def sessions(self) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = self.app.extensions["shopwright.sessions"]
        return factory

    def category(
        self, name: str | None = None, parent_id: int | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a category; return it as the API answers."""
        body = {"name": name or f"Category {next(_serial)}", "parent_id": parent_id, **fields}
        response = self.client.post(CATEGORIES, json=body, headers=self.headers)
        assert response.status_code == 201, response.json
        created: dict[str, Any] = response.json  # type: ignore[assignment]
        return created

    def product(
        self,
        category_id: int | None,
        name: str | None = None,
        *,
        price_cents: int = 1000,
        stock_quantity: int = 10,
        sku: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Create a product with one default variant (the shorthand); return it as the API answers."""
        body = {
            "name": name or f"Product {next(_serial)}",
            "category_id": category_id,
            "sku": sku or unique_sku(),
            "price_cents": price_cents,
            "stock_quantity": stock_quantity,
            **fields,
        }
        return self._created(self.client.post(PRODUCTS, json=body, headers=self.headers))

    def product_with_variants(
        self, category_id: int, variants: list[dict[str, Any]], name: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a product from a list of variants (each gets a unique SKU unless given)."""
        specs = [{"sku": unique_sku("VAR"), **variant} for variant in variants]
        body = {"name": name or f"Product {next(_serial)}", "category_id": category_id, "variants": specs}
        body.update(fields)
        return self._created(self.client.post(PRODUCTS, json=body, headers=self.headers))

    def update(self, product_id: int, **fields: Any) -> dict[str, Any]:
        response = self.client.patch(f"{PRODUCTS}/{product_id}", json=fields, headers=self.headers)
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        return body

    def delete(self, product_id: int) -> None:
        response = self.client.delete(f"{PRODUCTS}/{product_id}", headers=self.headers)
        assert response.status_code == 204, response.json

    def hide(self, product_id: int) -> None:
        """Deactivate a product (is_active = false)."""
        self.update(product_id, is_active=False)

    def add_variant(self, product_id: int, **fields: Any) -> dict[str, Any]:
        body = {"sku": unique_sku("VAR"), "price_cents": 1000, **fields}
        return self._created(
            self.client.post(f"{PRODUCTS}/{product_id}/variants", json=body, headers=self.headers)
        )

    @staticmethod
    def _created(response: Any) -> dict[str, Any]:
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body


# --- direct database access (arranging what no API does yet, and checking side effects) ------------
def set_reserved(sessions: sessionmaker[Session], variant_id: int, reserved: int) -> None:
    """Set `reserved` on a variant's stock row, as the (future) cart would by reserving units."""
    with sessions() as session, session.begin():
        changed = session.execute(
            update(StockLevel).where(StockLevel.variant_id == variant_id).values(reserved=reserved)
        )
        assert changed.rowcount == 1, f"no stock row for variant {variant_id}"  # type: ignore[attr-defined]


def empty_catalog(sessions: sessionmaker[Session]) -> None:
    """Delete every catalog row (and the orders that point at it), sub-categories before their parents.

    Tests call it before the conftest teardown: the category parent key is ON DELETE RESTRICT, which
    SQLite checks row by row (not at the end of the statement), so a plain `DELETE FROM categories`
    fails there as soon as the table holds a tree.
    """
    with sessions() as session, session.begin():
        for model in (
            SalesCustomer,
            SalesProduct,
            SalesDay,
            SalesOrder,
            OrderStatusDay,
            Refund,
            Payment,
            VoucherRedemption,
            OrderItem,
            Order,
            Review,
            StockLevel,
            Variant,
            Product,
        ):
            session.execute(delete(model))
        while session.scalar(select(func.count()).select_from(Category)):
            parents = select(Category.parent_id).where(Category.parent_id.is_not(None))
            if not session.execute(delete(Category).where(Category.id.not_in(parents))).rowcount:  # type: ignore[attr-defined]
                # No leaf: a test left a cycle. Detach what is left (renamed: root names are unique).
                renamed = Category.name + "#" + cast(Category.id, String)
                session.execute(update(Category).values(parent_id=None, name=renamed))


def stock_of(sessions: sessionmaker[Session], variant_id: int) -> tuple[int, int]:
    """Return (quantity, reserved) of a variant."""
    with sessions() as session:
        level = session.get(StockLevel, variant_id)
        assert level is not None
        return level.quantity, level.reserved


def set_rating(sessions: sessionmaker[Session], product_id: int, ratings: Iterable[int]) -> None:
    """Give a product the aggregate of these ratings directly (no review rows), to arrange sorts."""
    set_ratings(sessions, {product_id: ratings})


def set_ratings(sessions: sessionmaker[Session], ratings_by_product: dict[int, Iterable[int]]) -> None:
    """Give each product the aggregate of its ratings, in one transaction."""
    with sessions() as session, session.begin():
        for product_id, ratings in ratings_by_product.items():
            values = list(ratings)
            average = round(sum(values) / len(values), 2) if values else 0
            session.execute(
                update(Product)
                .where(Product.id == product_id)
                .values(rating_count=len(values), rating_sum=sum(values), rating_avg=average)
            )


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    """Return the number of rows in each catalog table (to assert that nothing was written)."""
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Category, Product, Variant, StockLevel, Review)
        }


def product_row(sessions: sessionmaker[Session], product_id: int) -> Product:
    with sessions() as session:
        product = session.get(Product, product_id)
        assert product is not None
        return product


def create_products(session: Session, specs: Iterable[dict[str, Any]]) -> list[int]:
    """Create products through the inventory use case in one session (fast bulk arrangement).

    A spec without `variants` gets the shorthand: a unique SKU, 10.00 and one unit unless given.
    """
    ids = []
    for spec in specs:
        shorthand = (
            {}
            if "variants" in spec
            else {"sku": unique_sku("BULK"), "price_cents": 1000, "stock_quantity": 1}
        )
        values = {**shorthand, **spec}
        ids.append(inventory.create_product(session, ProductCreate(**values)).id)
    return ids
