"""Demo data for `flask seed-db`: a small realistic catalog, and a bulk generator for large ones.

The demo catalog goes through the real use cases. The bulk generator (`--products N`) writes the
catalog and inventory tables directly, with PostgreSQL COPY (or executemany on SQLite), because a
million products through the ORM would take an hour; it is a development tool, not a use case.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.orm import Session

from shopwright.accounts.models import User
from shopwright.catalog import reviews
from shopwright.catalog import service as catalog
from shopwright.catalog.bulk import PRODUCT_COLUMNS, VARIANT_COLUMNS
from shopwright.catalog.cache import bump_catalog_version
from shopwright.catalog.models import Category, Product, Variant
from shopwright.catalog.schemas import CategoryCreate, ProductCreate, ReviewCreate, VariantCreate
from shopwright.inventory import movements
from shopwright.inventory import service as inventory
from shopwright.inventory.models import SEED, StockLevel
from shopwright.inventory.movements import Change

CATEGORY_TREE = {
    "Electronics": ["Laptops", "Phones", "Audio"],
    "Home & Kitchen": ["Cookware", "Furniture"],
    "Clothing": ["Men", "Women", "Kids"],
    "Sports & Outdoors": ["Camping", "Fitness"],
    "Books": ["Fiction", "Non-fiction"],
}
ADJECTIVES = [
    "Classic",
    "Pro",
    "Ultra",
    "Compact",
    "Eco",
    "Smart",
    "Deluxe",
    "Travel",
    "Everyday",
    "Premium",
    "Lightweight",
    "Rugged",
    "Vintage",
    "Modern",
    "Essential",
    "Wireless",
]
NOUNS = {
    "Laptops": ["Laptop", "Ultrabook", "Notebook"],
    "Phones": ["Phone", "Smartphone", "Phone Case"],
    "Audio": ["Headphones", "Speaker", "Earbuds"],
    "Cookware": ["Skillet", "Saucepan", "Dutch Oven"],
    "Furniture": ["Desk", "Chair", "Bookshelf"],
    "Men": ["Shirt", "Jacket", "Jeans"],
    "Women": ["Dress", "Blouse", "Coat"],
    "Kids": ["Hoodie", "Sneakers", "T-Shirt"],
    "Camping": ["Tent", "Sleeping Bag", "Lantern"],
    "Fitness": ["Yoga Mat", "Dumbbell Set", "Jump Rope"],
    "Fiction": ["Novel", "Short Stories", "Mystery"],
    "Non-fiction": ["Biography", "Cookbook", "History"],
}
SIZES = ["S", "M", "L", "XL"]
DEMO_PRODUCTS = 240
DEMO_SKU_PREFIX = "DEMO-"


def seed_catalog(session: Session) -> list[str]:
    """Create the demo category tree and products (idempotent); return what was done."""
    categories = _ensure_categories(session)
    with session.begin():
        present = session.scalar(select(func.count()).where(Variant.sku.like(f"{DEMO_SKU_PREFIX}%"))) or 0
    if present:
        return [f"catalog  {len(categories)} categories, demo products already present"]
    rng = random.Random(42)  # noqa: S311 - demo data: the same shop on every machine
    leaves = [c for c in categories if c.parent_id is not None]
    products = [
        inventory.create_product(session, _demo_product(rng, n, leaves[n % len(leaves)]))
        for n in range(DEMO_PRODUCTS)
    ]
    reviewed = _demo_reviews(session, rng, products)
    return [f"catalog  {len(categories)} categories, {len(products)} products, {reviewed} reviews (created)"]


def _ensure_categories(session: Session) -> list[Category]:
    with session.begin():
        existing = {(c.parent_id, c.name): c for c in session.scalars(select(Category))}
    result = []
    for root_name, children in CATEGORY_TREE.items():
        root = existing.get((None, root_name)) or catalog.create_category(
            session, CategoryCreate(name=root_name)
        )
        result.append(root)
        for child in children:
            found = existing.get((root.id, child))
            slug = catalog.slugify(f"{root_name} {child}")
            result.append(
                found
                or catalog.create_category(session, CategoryCreate(name=child, parent_id=root.id, slug=slug))
            )
    return result


def _demo_product(rng: random.Random, n: int, category: Category) -> ProductCreate:
    noun = rng.choice(NOUNS.get(category.name, ["Item"]))
    name = f"{rng.choice(ADJECTIVES)} {noun} {n + 1}"
    price = rng.randrange(500, 200_000, 100) - 1
    description = f"A {name.lower()} from our {category.name.lower()} range. Built to last, priced to move."
    sku = f"{DEMO_SKU_PREFIX}{n + 1:04d}"
    if category.name in ("Men", "Women", "Kids") and n % 2 == 0:  # clothes come in sizes
        variants = [
            VariantCreate(
                sku=f"{sku}-{size}",
                name=f"{name} ({size})",
                price_cents=price + i * 200,
                cost_cents=price * 6 // 10,
                attributes={"size": size},
                stock_quantity=rng.randrange(0, 30),
            )
            for i, size in enumerate(SIZES)
        ]
        return ProductCreate(name=name, description=description, category_id=category.id, variants=variants)
    return ProductCreate(
        name=name,
        description=description,
        category_id=category.id,
        sku=sku,
        price_cents=price,
        cost_cents=price * 6 // 10,
        stock_quantity=rng.choice([0, 3, 5, 12, 25, 50, 100]),
    )


def _demo_reviews(session: Session, rng: random.Random, products: list[Product]) -> int:
    with session.begin():
        customers = list(session.scalars(select(User.id).where(User.role == "customer").order_by(User.id)))
    count = 0
    for product in products[::4]:
        for user_id in customers:
            if rng.random() < 0.7:
                review = ReviewCreate(
                    rating=rng.choice([3, 4, 4, 5, 5]), title="Does the job", body="Happy with it."
                )
                reviews.add_review(session, product.id, user_id, review)
                count += 1
    return count


# --- bulk generation -------------------------------------------------------------------------
STOCK_COLUMNS = ("variant_id", "quantity", "reserved", "updated_at")
BATCH = 10_000


def bulk_products(session: Session, count: int, progress: Callable[[int], None]) -> int:
    """Add `count` generated products (one variant each, stocked) in batches; return how many."""
    categories = _ensure_categories(session)
    leaves = [c.id for c in categories if c.parent_id is not None]
    with session.begin():
        bump_catalog_version(session)
        connection = session.connection()
        next_product = (session.scalar(select(func.max(Product.id))) or 0) + 1
        next_variant = (session.scalar(select(func.max(Variant.id))) or 0) + 1
        write = _copy if connection.dialect.name == "postgresql" else _executemany
        rng = random.Random(next_product)  # noqa: S311 - generated demo data
        now = datetime.now(UTC)
        for start in range(0, count, BATCH):
            size = min(BATCH, count - start)
            rows = [
                _bulk_rows(rng, next_product + start + i, next_variant + start + i, leaves, now)
                for i in range(size)
            ]
            write(connection, "products", PRODUCT_COLUMNS, [r[0] for r in rows])
            write(connection, "variants", VARIANT_COLUMNS, [r[1] for r in rows])
            write(connection, "inventory", STOCK_COLUMNS, [r[2] for r in rows])
            movements.record(session, SEED, (Change(r[2][0], r[2][1], r[2][1]) for r in rows))
            progress(size)
        if connection.dialect.name == "postgresql":  # explicit ids were used: move the sequences past them
            for table in ("products", "variants"):
                statement = f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"  # noqa: S608 - fixed names
                connection.execute(text(statement))
    return count


def _bulk_rows(
    rng: random.Random, product_id: int, variant_id: int, leaves: list[int], now: datetime
) -> tuple[tuple[Any, ...], ...]:
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[rng.choice(list(NOUNS))])} {product_id}"
    price = rng.randrange(100, 500_000)
    product = (
        product_id,
        rng.choice(leaves),
        name,
        f"bulk-{product_id}",
        f"Generated product {name.lower()}.",
        True,
        price,
        "USD",
        now,
        now,
    )
    variant = (
        variant_id,
        product_id,
        f"BULK-{product_id}",
        name,
        "{}",
        price,
        price // 2,
        "USD",
        True,
        True,
        now,
        now,
    )
    stock = (variant_id, rng.randrange(0, 200), 0, now)
    return product, variant, stock


def _copy(connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row(row)


def _executemany(
    connection: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    model = {"products": Product, "variants": Variant, "inventory": StockLevel}[table]
    values = [dict(zip(columns, row, strict=True)) for row in rows]
    if table == "variants":
        for value in values:
            value["attributes"] = {}
    connection.execute(insert(model.__table__), values)  # type: ignore[arg-type]
