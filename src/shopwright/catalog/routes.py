"""HTTP routes of /api/products and /api/categories."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from flask import Response, current_app, request
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required, current_user_id, login_required
from shopwright.catalog import display, listing, reviews, service
from shopwright.catalog.cache import Answer, CatalogCache, answer_key
from shopwright.catalog.models import Category, Variant
from shopwright.catalog.schemas import (
    CategoryCreate,
    CategoryNode,
    CategoryOut,
    CategoryPath,
    CategoryUpdate,
    ListingQuery,
    ProductCreate,
    ProductList,
    ProductOut,
    ProductPath,
    ProductQuery,
    ProductUpdate,
    ReviewCreate,
    ReviewOut,
    VariantCreate,
    VariantOut,
    VariantPath,
    VariantUpdate,
)
from shopwright.db import get_read_session, get_session
from shopwright.inventory import service as inventory
from shopwright.inventory import view as inventory_view
from shopwright.openapi import CACHE_CONTROL, ETAG, NOT_MODIFIED, json_answer
from shopwright.orders import purchases
from shopwright.schemas import ItemList, LimitQuery, Page
from shopwright.web import Result, no_content, respond

products_bp = APIBlueprint("products", __name__, url_prefix="/api/products", abp_tags=[Tag(name="Catalog")])
categories_bp = APIBlueprint(
    "categories", __name__, url_prefix="/api/categories", abp_tags=[Tag(name="Catalog")]
)
RECOMMENDATIONS = 8
# Anonymous reads below are served through the catalog cache (catalog/cache.py, _cached).
_CACHED_HEADERS = {"ETag": ETAG, "Cache-Control": CACHE_CONTROL}
PRODUCT_LIST_ANSWERS: dict[str | int | HTTPStatus, Any] = {
    200: json_answer(ProductList, "A page of products", headers=_CACHED_HEADERS),
    304: NOT_MODIFIED,
}
# Answers to requests that carry a token: they skip the cache, and no shared cache may keep them.
PRIVATE = "private, no-cache"


# --- public reads ----------------------------------------------------------------------------
@products_bp.get(
    "",
    summary="List products: search, filter, sort, paginate (ETag)",
    operation_id="listProducts",
    responses=PRODUCT_LIST_ANSWERS,
)
def list_products(query: ProductQuery) -> Result:
    return _cached(query, lambda: _listing(query))


@products_bp.get(
    "/<int:product_id>",
    summary="Get a product with variants and availability (ETag)",
    operation_id="getProduct",
    responses={200: json_answer(ProductOut, "The product", headers=_CACHED_HEADERS), 304: NOT_MODIFIED},
)
def get_product(path: ProductPath) -> Result:
    def build() -> dict[str, Any]:
        return inventory_view.product_json(get_read_session(), path.product_id)

    return _cached(None, build)


@products_bp.get(
    "/<int:product_id>/reviews",
    summary="List a product's reviews, newest first",
    operation_id="listProductReviews",
    responses={200: Page[ReviewOut]},
)
def list_reviews(path: ProductPath, query: LimitQuery) -> Result:
    page = reviews.list_reviews(get_read_session(), path.product_id, limit=query.limit, cursor=query.cursor)
    return respond(Page[ReviewOut], page)


@products_bp.post(
    "/<int:product_id>/reviews",
    summary="Review a product (once per customer)",
    operation_id="createReview",
    security=BEARER,
    responses={201: ReviewOut},
)
@login_required
def add_review(path: ProductPath, body: ReviewCreate) -> Result:
    session, user_id = get_session(), current_user_id()
    verified = purchases.has_purchased(session, user_id, path.product_id)  # orders sits above catalog
    review = reviews.add_review(session, path.product_id, user_id, body, verified_purchase=verified)
    return respond(ReviewOut, review, 201)


@products_bp.get(
    "/<int:product_id>/recommendations",
    summary="Products bought together with this one, then its category's best sellers and newest",
    operation_id="listRecommendations",
    responses={200: ItemList[ProductOut]},
)
def recommendations(path: ProductPath) -> Result:
    session = get_read_session()
    ranked = purchases.recommendation_ranking(session, path.product_id, limit=RECOMMENDATIONS)
    rows = reviews.recommend(session, path.product_id, preferred=ranked, limit=RECOMMENDATIONS)
    return {"items": inventory_view.products_json(session, rows)}


@categories_bp.get(
    "",
    summary="The category tree (ETag)",
    operation_id="getCategoryTree",
    responses={
        200: json_answer(ItemList[CategoryNode], "Every category, children nested", headers=_CACHED_HEADERS),
        304: NOT_MODIFIED,
    },
)
def category_tree() -> Result:
    return _cached(None, lambda: {"items": _tree(service.list_categories(get_read_session()))})


@categories_bp.get(
    "/<int:category_id>/products",
    summary="Products of a category and its sub-categories (ETag)",
    operation_id="listCategoryProducts",
    responses=PRODUCT_LIST_ANSWERS,
)
def category_products(path: CategoryPath, query: ListingQuery) -> Result:
    # Both parts are validated already: only put them together.
    combined = ProductQuery.model_construct(**dict(query), category_id=path.category_id)
    return _cached(query, lambda: _listing(combined))


@products_bp.before_request
@categories_bp.before_request
def _known_answer() -> Response | None:
    """Answer an anonymous read seen before in this exact form from the cache, before validating it again."""
    cache: CatalogCache | None = current_app.extensions["shopwright.catalog_cache"]
    if cache is None or request.method not in ("GET", "HEAD") or "Authorization" in request.headers:
        return None
    answer = cache.known_answer(_request_key())
    return None if answer is None else _send(answer, f"public, max-age={cache.seconds}")


def _request_key() -> str:
    return f"{request.method} {request.path} {request.query_string.decode('latin-1')}"


# --- admin writes ----------------------------------------------------------------------------
@products_bp.post(
    "",
    summary="Create a product (variants, or sku + price_cents + stock_quantity)",
    operation_id="createProduct",
    security=BEARER,
    responses={201: ProductOut},
)
@admin_required
def create_product(body: ProductCreate) -> Result:
    session = get_session()
    product = inventory.create_product(session, body, actor_id=current_user_id())
    return inventory_view.product_json(session, product.id, include_hidden=True), 201


@products_bp.put(
    "/<int:product_id>",
    summary="Update a product (as PATCH: fields left out are kept)",
    operation_id="replaceProduct",
    security=BEARER,
    responses={200: ProductOut},
)
@products_bp.patch(
    "/<int:product_id>",
    summary="Update a product",
    operation_id="updateProduct",
    security=BEARER,
    responses={200: ProductOut},
)
@admin_required
def update_product(path: ProductPath, body: ProductUpdate) -> Result:
    session = get_session()
    product = inventory.update_product(session, path.product_id, body, actor_id=current_user_id())
    return inventory_view.product_json(session, product.id, include_hidden=True)


@products_bp.delete(
    "/<int:product_id>",
    summary="Soft-delete a product",
    operation_id="deleteProduct",
    security=BEARER,
    responses={204: None},
)
@admin_required
def delete_product(path: ProductPath) -> Result:
    service.delete_product(get_session(), path.product_id)
    return no_content()


@products_bp.post(
    "/<int:product_id>/variants",
    summary="Add a variant",
    operation_id="createVariant",
    security=BEARER,
    responses={201: VariantOut},
)
@admin_required
def add_variant(path: ProductPath, body: VariantCreate) -> Result:
    variant = inventory.add_variant(get_session(), path.product_id, body, actor_id=current_user_id())
    return _variant_out(variant), 201


@products_bp.patch(
    "/<int:product_id>/variants/<int:variant_id>",
    summary="Update a variant",
    operation_id="updateVariant",
    security=BEARER,
    responses={200: VariantOut},
)
@admin_required
def update_variant(path: VariantPath, body: VariantUpdate) -> Result:
    return _variant_out(
        inventory.update_variant(
            get_session(), path.product_id, path.variant_id, body, actor_id=current_user_id()
        )
    )


@categories_bp.post(
    "",
    summary="Create a category",
    operation_id="createCategory",
    security=BEARER,
    responses={201: CategoryOut},
)
@admin_required
def create_category(body: CategoryCreate) -> Result:
    return respond(CategoryOut, service.create_category(get_session(), body), 201)


@categories_bp.patch(
    "/<int:category_id>",
    summary="Rename, describe or move a category",
    operation_id="updateCategory",
    security=BEARER,
    responses={200: CategoryOut},
)
@admin_required
def update_category(path: CategoryPath, body: CategoryUpdate) -> Result:
    return respond(CategoryOut, service.update_category(get_session(), path.category_id, body))


@categories_bp.delete(
    "/<int:category_id>",
    summary="Delete an empty category",
    operation_id="deleteCategory",
    security=BEARER,
    responses={204: None},
)
@admin_required
def delete_category(path: CategoryPath) -> Result:
    service.delete_category(get_session(), path.category_id)
    return no_content()


# --- serialisation: every product answer is inventory.view.product(s)_json ---------------------
def _listing(query: ProductQuery) -> dict[str, Any]:
    session = get_read_session()
    page = listing.list_products(session, query, in_stock=inventory.in_stock_condition())
    body: dict[str, Any] = {"items": inventory_view.products_json(session, page.items)}
    if page.total is not None:
        body.update(page=query.page or 1, per_page=query.per_page or query.limit, total=page.total)
    else:
        body["next_cursor"] = page.next_cursor
    return body


def _cached(query: ProductQuery | ListingQuery | None, build: Callable[[], dict[str, Any]]) -> Response:
    """Answer a catalog read with an ETag, from the catalog cache when the request is anonymous.

    A request with an Authorization header is built fresh and marked private: these reads show every
    customer the same today, but an answer to a token must not become one for everybody if that changes.
    Cache-Control lets a CDN keep anonymous answers as long as this cache does (docs/operations.md).
    """
    cache: CatalogCache | None = current_app.extensions["shopwright.catalog_cache"]
    if cache is None:
        return _send(_encode(build()), None)
    if "Authorization" in request.headers:
        return _send(_encode(build()), PRIVATE)
    key = answer_key(request.method, request.path, query)
    cache.remember(_request_key(), key)
    return _send(cache.cached_answer(key, lambda: _encode(build())), f"public, max-age={cache.seconds}")


def _encode(body: dict[str, Any]) -> Answer:
    # The bytes Flask's JSON response sends (compact, a final newline): the ETag is of exactly these.
    data = f"{current_app.json.dumps(body, separators=(',', ':'))}\n".encode()
    return Answer(data, hashlib.sha256(data).hexdigest()[:32])


def _send(answer: Answer, cache_control: str | None) -> Response:
    """Send `answer` with its strong ETag; a matching If-None-Match gets 304."""
    # If-None-Match compares weakly (RFC 9110 13.1.2); no Range or date logic to run (make_conditional).
    if request.if_none_match.contains_weak(answer.etag):
        response = Response(status=304)
    else:
        response = Response(answer.body, status=answer.status)
    response.mimetype = "application/json"
    response.set_etag(answer.etag)
    if cache_control is not None:
        response.headers["Cache-Control"] = cache_control
    return response


def _variant_out(variant: Variant) -> dict[str, Any]:
    return display.variant_json(inventory.variant_for_sale(get_session(), variant.id))


def _tree(categories: list[Category]) -> list[dict[str, Any]]:
    nodes = {
        c.id: {**CategoryOut.model_validate(c).model_dump(mode="json"), "children": []} for c in categories
    }
    roots: list[dict[str, Any]] = []
    for category in categories:
        parent = nodes.get(category.parent_id) if category.parent_id is not None else None
        (parent["children"] if parent is not None else roots).append(nodes[category.id])
    return roots
