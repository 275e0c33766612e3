"""Catalog request and response schemas."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    RootModel,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from shopwright.schemas import (
    Currency,
    Id,
    InputModel,
    NumberedPage,
    OutputModel,
    Page,
    QueryBool,
    QueryModel,
    UTCTimestamp,
)

MAX_CENTS = 10**12  # ten billion in major units: far above any real price, well inside BIGINT
MAX_STOCK = 10**9


Cents = Annotated[StrictInt, Field(ge=0, le=MAX_CENTS)]
Stock = Annotated[StrictInt, Field(ge=0, le=MAX_STOCK)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


# --- categories -----------------------------------------------------------------------------
class CategoryCreate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    slug: Slug | None = None
    parent_id: Id | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] = ""


class CategoryUpdate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    slug: Slug | None = None
    parent_id: Id | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None


class CategoryOut(OutputModel):
    id: int
    name: str
    slug: str
    parent_id: int | None
    description: str


class CategoryNode(CategoryOut):
    children: list[CategoryNode] = []


class CategoryRef(OutputModel):
    id: int
    name: str
    slug: str


# --- products and variants --------------------------------------------------------------------
class VariantCreate(InputModel):
    sku: Sku
    name: Name | None = None
    price_cents: Cents
    cost_cents: Cents = 0
    currency: Currency | None = Field(default=None, description="Defaults to, and must equal, the product's")
    attributes: dict[str, Annotated[str, StringConstraints(max_length=100)]] = Field(
        default_factory=dict, max_length=20
    )
    stock_quantity: Stock = 0
    is_default: StrictBool = False


def _not_null(value: Any) -> Any:
    # Left out means "unchanged"; an explicit null would reach a NOT NULL column.
    if value is None:
        raise ValueError("cannot be null; leave the field out to keep its value")
    return value


class VariantUpdate(InputModel):
    sku: Sku | None = None
    name: Name | None = None
    price_cents: Cents | None = None
    cost_cents: Cents | None = None
    attributes: dict[str, Annotated[str, StringConstraints(max_length=100)]] | None = Field(
        default=None, max_length=20
    )
    stock_quantity: Stock | None = None
    is_default: Literal[True] | None = None
    is_active: StrictBool | None = None

    _fields_not_null = field_validator("*", mode="before")(_not_null)


class ProductCreate(InputModel):
    """A product with variants, or the shorthand `sku` + `price_cents` (+ `stock_quantity`) for one."""

    name: Name
    slug: Slug | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] = ""
    category_id: Id | None = Field(default=None, description="Leave out (or null) for no category")
    is_active: StrictBool = True
    sku: Sku | None = None
    price_cents: Cents | None = None
    cost_cents: Cents = 0
    currency: Currency = "USD"
    stock_quantity: Stock = 0
    variants: list[VariantCreate] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _has_variants(self) -> ProductCreate:
        shorthand = self.sku is not None or self.price_cents is not None
        if shorthand and self.variants:
            raise ValueError("give either sku + price_cents (one default variant) or variants, not both")
        if shorthand and (self.sku is None or self.price_cents is None):
            raise ValueError("the shorthand needs both sku and price_cents")
        if not shorthand and not self.variants:
            raise ValueError("a product needs at least one variant (or sku + price_cents)")
        if len({v.sku.upper() for v in self.variants}) != len(self.variants):
            raise ValueError("variant SKUs must be unique")
        if sum(v.is_default for v in self.variants) > 1:
            raise ValueError("at most one variant can be the default")
        if any(v.currency not in (None, self.currency) for v in self.variants):
            raise ValueError(f"every variant is priced in the product's currency ({self.currency})")
        return self

    def variant_specs(self) -> list[VariantCreate]:
        """Return the variants to create, the default one first."""
        if self.sku is not None and self.price_cents is not None:
            return [
                VariantCreate(
                    sku=self.sku,
                    name=self.name,
                    price_cents=self.price_cents,
                    cost_cents=self.cost_cents,
                    currency=self.currency,
                    stock_quantity=self.stock_quantity,
                    is_default=True,
                )
            ]
        default_index = next((i for i, v in enumerate(self.variants) if v.is_default), 0)
        ordered = [self.variants[default_index]] + [
            v for i, v in enumerate(self.variants) if i != default_index
        ]
        return [v.model_copy(update={"is_default": i == 0}) for i, v in enumerate(ordered)]


class ProductUpdate(InputModel):
    """Product fields; the shorthand fields (sku, prices, stock_quantity) edit the default variant."""

    name: Name | None = None
    slug: Slug | None = None
    description: Annotated[str, StringConstraints(max_length=20000)] | None = None
    category_id: Id | None = Field(default=None, description="null takes the product out of its category")
    is_active: StrictBool | None = None
    sku: Sku | None = None
    price_cents: Cents | None = None
    cost_cents: Cents | None = None
    stock_quantity: Stock | None = None

    _shorthand_not_null = field_validator("sku", "price_cents", "cost_cents", mode="before")(_not_null)

    def default_variant_update(self) -> VariantUpdate:
        """Return the shorthand fields as an update of the default variant."""
        fields = self.model_dump(
            include={"sku", "price_cents", "cost_cents", "stock_quantity"}, exclude_unset=True
        )
        return VariantUpdate(**fields)


class VariantOut(OutputModel):
    id: int
    sku: str
    name: str
    price_cents: int
    currency: str
    attributes: dict[str, Any]
    is_default: bool
    available: int = 0


class ProductOut(OutputModel):
    id: int
    name: str
    slug: str
    description: str
    category: CategoryRef | None
    price_cents: int = Field(description="The lowest price among the product's variants")
    currency: str
    in_stock: bool
    rating_avg: float
    rating_count: int
    variants: list[VariantOut]
    created_at: UTCTimestamp
    updated_at: UTCTimestamp


class ProductPath(InputModel):
    product_id: int


class VariantPath(InputModel):
    product_id: int
    variant_id: int


class CategoryPath(InputModel):
    category_id: int


class ProductList(RootModel[Page[ProductOut] | NumberedPage[ProductOut]]):
    """Products: a cursor page (`limit`, `cursor`), or a numbered page when `page` or `per_page` is given."""


Sort = Literal["newest", "price_asc", "price_desc", "rating", "relevance"]
SearchText = Annotated[str, StringConstraints(min_length=2, max_length=200, strip_whitespace=True)]


class ListingQuery(QueryModel):
    """Search, filters, sort and pagination of a product list (a category's list takes its id in the path)."""

    search: SearchText | None = None
    q: SearchText | None = None
    min_price_cents: Annotated[int, Field(ge=0, le=MAX_CENTS)] | None = None
    max_price_cents: Annotated[int, Field(ge=0, le=MAX_CENTS)] | None = None
    in_stock: QueryBool | None = None
    has_inventory: QueryBool | None = None
    sort: Sort = "newest"
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, StringConstraints(max_length=500)] | None = None
    page: Annotated[int, Field(ge=1, le=100_000)] | None = None
    per_page: Annotated[int, Field(ge=1, le=100)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ListingQuery:
        if (
            self.min_price_cents is not None
            and self.max_price_cents is not None
            and self.min_price_cents > self.max_price_cents
        ):
            raise ValueError("min_price_cents must not exceed max_price_cents")
        if self.cursor is not None and (self.page is not None or self.per_page is not None):
            raise ValueError("use either cursor pagination (limit, cursor) or pages (page, per_page)")
        return self

    @property
    def text(self) -> str | None:
        return self.search or self.q

    @property
    def stock_only(self) -> bool:
        return bool(self.in_stock or self.has_inventory)


class ProductQuery(ListingQuery):
    """The catalog list's query: a listing, optionally of one category and its sub-categories."""

    category_id: Annotated[int, Field(ge=1)] | None = None


# --- reviews ---------------------------------------------------------------------------------
class ReviewCreate(InputModel):
    rating: Annotated[StrictInt, Field(ge=1, le=5)]
    title: Annotated[str, StringConstraints(max_length=200)] | None = None
    body: Annotated[str, StringConstraints(max_length=10000)] | None = None


class ReviewOut(OutputModel):
    id: int
    product_id: int
    user_id: int | None
    rating: int
    title: str | None
    body: str | None
    verified_purchase: bool
    created_at: UTCTimestamp
