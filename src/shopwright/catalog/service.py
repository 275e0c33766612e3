"""Catalog use cases: categories, products and variants (stock is the inventory domain's)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from shopwright import outbox
from shopwright.catalog.cache import bump_catalog_version
from shopwright.catalog.errors import (
    CategoryInUse,
    CategoryNameTaken,
    CategoryNotFound,
    CurrencyMismatch,
    InvalidCategoryParent,
    LastVariant,
    ProductNotFound,
    SkuTaken,
    SlugTaken,
    UnknownCategory,
    VariantNotFound,
)
from shopwright.catalog.events import PRODUCT_DELETED
from shopwright.catalog.models import Category, Product, Variant
from shopwright.catalog.schemas import (
    CategoryCreate,
    CategoryUpdate,
    ProductCreate,
    ProductUpdate,
    VariantCreate,
    VariantUpdate,
)
from shopwright.db import (
    get_by_id,
    is_foreign_key_violation,
    is_postgres,
    is_row_id,
    utcnow,
    violated_constraint,
)

# The advisory lock key of category moves (any number no other lock of this database uses).
CATEGORY_TREE_LOCK = 0x5357_4354  # "SWCT"


# --- categories ------------------------------------------------------------------------------
def list_categories(session: Session) -> list[Category]:
    """Return every category, parents before children within each level's name order."""
    return list(session.scalars(select(Category).order_by(Category.name, Category.id)))


def get_category(session: Session, category_id: int) -> Category:
    """Return a category or raise CategoryNotFound."""
    category = get_by_id(session, Category, category_id)
    if category is None:
        raise CategoryNotFound(f"No category {category_id}")
    return category


def category_and_descendants(session: Session, category_id: int) -> list[int]:
    """Return the ids of a category and all its sub-categories (the tree is small: one query).

    Each category is visited once: a cycle in the data (moves refuse them; a restore might not) ends the
    walk instead of looping forever.
    """
    children: dict[int | None, list[int]] = {}
    for cid, parent_id in session.execute(select(Category.id, Category.parent_id)).all():
        children.setdefault(parent_id, []).append(cid)
    if not any(category_id in ids for ids in children.values()):
        raise CategoryNotFound(f"No category {category_id}")
    found, frontier = {category_id: None}, [category_id]
    while frontier:
        frontier = [child for parent in frontier for child in children.get(parent, []) if child not in found]
        found.update(dict.fromkeys(frontier))
    return list(found)


def create_category(session: Session, data: CategoryCreate) -> Category:
    """Create a category under `parent_id` (or at the root)."""
    with _unique_names(), session.begin():
        bump_catalog_version(session)
        if data.parent_id is not None:
            _parent(session, data.parent_id)
        category = Category(
            name=data.name, slug=data.slug or "", parent_id=data.parent_id, description=data.description
        )
        if data.slug is None:
            _insert_with_free_slug(session, category, data.name, Category.slug)
        session.add(category)
        session.flush()
    return category


def update_category(session: Session, category_id: int, data: CategoryUpdate) -> Category:
    """Rename, re-slug, describe or move a category; a move may not create a cycle."""
    with _unique_names(), session.begin():
        bump_catalog_version(session)
        if "parent_id" in data.model_fields_set:
            _lock_tree(session)  # before anything is read: the cycle check must see the latest tree
        category = get_category(session, category_id)
        if "parent_id" in data.model_fields_set:
            if data.parent_id is not None:
                if data.parent_id in category_and_descendants(session, category_id):
                    raise InvalidCategoryParent(
                        "A category cannot move under itself or one of its sub-categories"
                    )
                _parent(session, data.parent_id)
            category.parent_id = data.parent_id
        for name in ("name", "slug", "description"):
            value = getattr(data, name)
            if value is not None:
                setattr(category, name, value)
        session.flush()
    return category


def _lock_tree(session: Session) -> None:
    """Serialise moves of categories until the transaction ends; runs inside the caller's transaction.

    Two opposite moves (A under B, B under A) each pass a cycle check made before the other commits: one
    lock for the whole tree makes the second check see the first move. A transaction-level advisory lock
    (released at commit, safe behind PgBouncer in transaction mode); SQLite already runs one writer at a time.
    """
    if is_postgres(session):
        session.execute(select(func.pg_advisory_xact_lock(CATEGORY_TREE_LOCK)))


def delete_category(session: Session, category_id: int) -> None:
    """Delete an empty category: one with products (even deleted ones) or children is refused."""
    try:
        with session.begin():
            bump_catalog_version(session)
            category = get_category(session, category_id)
            has_children = session.scalar(select(exists().where(Category.parent_id == category_id)))
            has_products = session.scalar(select(exists().where(Product.category_id == category_id)))
            if has_children or has_products:
                raise CategoryInUse("Move or delete its products and sub-categories first")
            session.delete(category)
    except IntegrityError as error:
        # Something was added to it after the checks: the foreign keys (RESTRICT) refuse the delete.
        raise CategoryInUse("Move or delete its products and sub-categories first") from error


def _category_for_product(session: Session, category_id: int) -> Category:
    category = get_by_id(session, Category, category_id)
    if category is None:
        raise UnknownCategory(
            f"No category {category_id}", errors=[{"field": "category_id", "message": "not found"}]
        )
    return category


def _parent(session: Session, parent_id: int) -> Category:
    parent = get_by_id(session, Category, parent_id)
    if parent is None:
        raise InvalidCategoryParent(f"No category {parent_id} to nest under")
    return parent


@contextmanager
def _unique_names() -> Iterator[None]:
    """Map the unique constraints of categories to a 409 (the constraint decides races)."""
    try:
        yield
    except IntegrityError as error:
        if is_foreign_key_violation(error):  # the parent was deleted after it was checked
            raise InvalidCategoryParent("The parent category no longer exists") from error
        raise CategoryNameTaken("A sibling category has that name, or the slug is taken") from error


# --- products --------------------------------------------------------------------------------
def get_product(
    session: Session, product_id: int, *, include_hidden: bool = False, lock: bool = False
) -> Product:
    """Return a product with its category and variants; hidden ones only when asked for.

    `lock` takes the product row FOR UPDATE before its variants are read (writers of one product queue).
    """
    if not is_row_id(product_id):
        raise ProductNotFound(f"No product {product_id}")
    statement = (
        select(Product)
        .where(Product.id == product_id)
        .options(selectinload(Product.variants), selectinload(Product.category))
    )
    product = session.scalars(statement.with_for_update() if lock else statement).first()
    if product is None or (not include_hidden and (product.deleted_at is not None or not product.is_active)):
        raise ProductNotFound(f"No product {product_id}")
    return product


def add_product(session: Session, data: ProductCreate) -> tuple[Product, list[tuple[Variant, int]]]:
    """Create a product and its variants; return the variants with their initial stock.

    Runs inside the caller's transaction (inventory.service.create_product stocks the variants).
    """
    bump_catalog_version(session)
    product = Product(
        name=data.name,
        slug=data.slug or "",
        description=data.description,
        category=_category_for_product(session, data.category_id) if data.category_id is not None else None,
        is_active=data.is_active,
        currency=data.currency,
    )
    product.variants = []
    if data.slug is None:
        with _product_conflicts():
            _insert_with_free_slug(session, product, data.name, Product.slug)
    session.add(product)
    created = [(_new_variant(product, spec), spec.stock_quantity) for spec in data.variant_specs()]
    _flush_unique(session)
    _refresh_price(product)
    return product, created


def apply_product_update(session: Session, product_id: int, data: ProductUpdate) -> Product:
    """Apply product fields and the default-variant shorthand; runs inside the caller's transaction.

    Every product, variant and price write passes here (variants, deletes): it drops cached answers.
    """
    bump_catalog_version(session)
    # Locked: the default-variant switch and the lowest price are computed from the variants read here,
    # so a concurrent write of the same product must not change them before this one commits.
    product = get_product(session, product_id, include_hidden=True, lock=True)
    if product.deleted_at is not None:
        raise ProductNotFound(f"No product {product_id}")
    if "category_id" in data.model_fields_set:  # an explicit null takes the product out of its category
        category_id = data.category_id
        product.category = _category_for_product(session, category_id) if category_id is not None else None
    for name in ("name", "slug", "description", "is_active"):
        value = getattr(data, name)
        if value is not None:
            setattr(product, name, value)
    shorthand = data.default_variant_update()
    if shorthand.model_fields_set - {"stock_quantity"}:
        _apply_variant(session, product, default_variant(product), shorthand)
    _flush_unique(session)
    _refresh_price(product)
    return product


def add_variant(session: Session, product_id: int, data: VariantCreate) -> Variant:
    """Add a variant to a product; runs inside the caller's transaction."""
    product = apply_product_update(session, product_id, ProductUpdate())
    if data.is_default:
        default_variant(product).is_default = False
        session.flush()  # the one-default-per-product index must see the old default cleared first
    variant = _new_variant(product, data)
    _flush_unique(session)
    _refresh_price(product)
    return variant


def apply_variant_update(session: Session, product_id: int, variant_id: int, data: VariantUpdate) -> Variant:
    """Change a variant's fields (stock aside); runs inside the caller's transaction."""
    product = apply_product_update(session, product_id, ProductUpdate())
    variant = next((v for v in product.variants if v.id == variant_id), None)
    if variant is None:
        raise VariantNotFound(f"Product {product_id} has no variant {variant_id}")
    _apply_variant(session, product, variant, data)
    _flush_unique(session)
    _refresh_price(product)
    return variant


def delete_product(session: Session, product_id: int) -> None:
    """Soft-delete a product: hidden from the catalog, kept for orders and reports."""
    with session.begin():
        product = apply_product_update(session, product_id, ProductUpdate())
        product.deleted_at = utcnow()
        outbox.publish(session, PRODUCT_DELETED, {"product_id": product.id})


def default_variant(product: Product) -> Variant:
    """Return the product's default variant."""
    return next(v for v in product.variants if v.is_default)


def _new_variant(product: Product, spec: VariantCreate) -> Variant:
    if spec.currency not in (None, product.currency):
        raise CurrencyMismatch(
            f"Product {product.name!r} is priced in {product.currency}; its variants are too",
            errors=[{"field": "currency", "message": f"must be {product.currency}"}],
        )
    variant = Variant(
        sku=spec.sku.upper(),
        name=spec.name or product.name,
        price_cents=spec.price_cents,
        cost_cents=spec.cost_cents,
        currency=product.currency,
        attributes=spec.attributes,
        is_default=spec.is_default,
    )
    product.variants.append(variant)
    return variant


def _apply_variant(session: Session, product: Product, variant: Variant, data: VariantUpdate) -> None:
    changes = data.model_dump(exclude_unset=True, exclude={"stock_quantity", "is_default"})
    if "sku" in changes:
        changes["sku"] = changes["sku"].upper()
    if changes.get("is_active") is False and variant.is_default:
        raise LastVariant("Make another variant the default before deactivating this one")
    if data.is_default and not changes.get("is_active", variant.is_active):
        # An inactive default would let the last active variant be deactivated (a product with none).
        raise LastVariant("Only an active variant can be the default")
    for name, value in changes.items():
        setattr(variant, name, value)
    if data.is_default and not variant.is_default:
        old = default_variant(product)
        old.is_default = False
        session.flush()  # clear the old default before the one-default index sees the new one
        variant.is_default = True


def _refresh_price(product: Product) -> None:
    prices = [v.price_cents for v in product.variants if v.is_active]
    product.min_price_cents = min(prices) if prices else 0


def _flush_unique(session: Session) -> None:
    with _product_conflicts():
        session.flush()


@contextmanager
def _product_conflicts() -> Iterator[None]:
    """Map the constraints of products and variants to domain errors (the constraints decide races)."""
    try:
        yield
    except IntegrityError as error:
        constraint = violated_constraint(error)
        if constraint == "uq_variants_sku":
            raise SkuTaken("Another variant already has that SKU") from error
        if constraint == "uq_products_slug":
            raise SlugTaken("Another product already has that slug") from error
        if is_foreign_key_violation(error):  # the category was deleted after it was checked
            raise UnknownCategory(
                "The category no longer exists", errors=[{"field": "category_id", "message": "not found"}]
            ) from error
        raise


def slugify(text: str) -> str:
    """Return a URL slug for `text` (ASCII, lower-case, dashes)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:100] or "item"


def _insert_with_free_slug(
    session: Session, row: Product | Category, name: str, column: InstrumentedAttribute[str]
) -> None:
    """Insert `row` under the first free slug for `name`; if a concurrent insert took it, try the next."""
    for _ in range(10):
        row.slug = _free_slug(session, name, column)
        try:
            with session.begin_nested():  # a lost race rolls back this insert only
                session.add(row)
                session.flush()
            return
        except IntegrityError as error:
            if violated_constraint(error) not in ("uq_products_slug", "uq_categories_slug"):
                raise
    raise SlugTaken("No free slug found for that name; give one explicitly")


def _free_slug(session: Session, name: str, column: InstrumentedAttribute[str]) -> str:
    base = slugify(name)
    taken = set(session.scalars(select(column).where(column.like(f"{base}%"))))
    if base not in taken:
        return base
    return next(f"{base}-{n}" for n in range(2, len(taken) + 3) if f"{base}-{n}" not in taken)
