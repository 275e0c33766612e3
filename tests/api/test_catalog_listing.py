"""GET /api/products: filters, search, sorts and their combinations, cursor and page pagination, ETags,
and the customer-facing reads beside it (recommendations)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, error_fields
from tests.factories.catalog import (
    PRODUCTS,
    Shop,
    create_products,
    make_cursor,
    set_rating,
    set_ratings,
    set_reserved,
)

SORTS = ["newest", "price_asc", "price_desc", "rating", "relevance"]


def _list(client: FlaskClient, path: str = PRODUCTS, **params: Any) -> dict[str, Any]:
    response = client.get(path, query_string=params)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _ids(client: FlaskClient, **params: Any) -> list[int]:
    return [item["id"] for item in _list(client, **params)["items"]]


def _walk(client: FlaskClient, limit: int, path: str = PRODUCTS, **params: Any) -> list[int]:
    """Follow next_cursor to the end; return every id in the order served."""
    seen: list[int] = []
    cursor: str | None = None
    for _ in range(1000):
        page = _list(client, path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        assert set(page) == {"items", "next_cursor"}
        assert len(page["items"]) <= limit
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
        assert page["items"], "a page that promises more must not be empty"
    raise AssertionError(f"pagination did not end: {params} limit {limit}, served {seen[:12]}...")


# --- a reference catalog and a model of what each query must return ------------------------------
@dataclass
class Item:
    id: int
    name: str
    description: str
    category: str
    price: int
    rating: float
    available: int
    listed: bool = True


@dataclass
class Catalog:
    items: list[Item]
    categories: dict[str, int]
    tree: dict[str, list[str]]  # category -> itself and its descendants
    # PostgreSQL matches all words but the last as whole words (the last as a prefix, as typed so far);
    # SQLite's fallback matches every word anywhere in the text.
    whole_words_but_last: bool = False

    def expected(
        self,
        *,
        search: str | None = None,
        category: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        in_stock: bool = False,
        sort: str = "newest",
    ) -> list[int]:
        words = re.findall(r"\w+", search.lower()) if search else []
        if search and not words:
            return []  # nothing to look for: nothing found

        def keep(item: Item) -> bool:
            tokens = re.findall(r"\w+", f"{item.name} {item.description}".lower())
            return (
                item.listed
                and all(
                    any(self._matches(token, word, last=n == len(words) - 1) for token in tokens)
                    for n, word in enumerate(words)
                )
                and (category is None or item.category in self.tree[category])
                and (min_price is None or item.price >= min_price)
                and (max_price is None or item.price <= max_price)
                and (not in_stock or item.available > 0)
            )

        chosen = [item for item in self.items if keep(item)]
        keys = {
            "price_asc": lambda i: (i.price, i.id),
            "price_desc": lambda i: (-i.price, -i.id),
            "rating": lambda i: (-i.rating, -i.id),
        }
        ordered = sorted(chosen, key=keys.get(sort, lambda i: -i.id))
        return [item.id for item in ordered]

    def _matches(self, token: str, word: str, *, last: bool) -> bool:
        if self.whole_words_but_last and not last:
            return token == word
        return token.startswith(word)


@pytest.fixture
def catalog(shop: Shop, sessions: sessionmaker[Session], backend: str) -> Catalog:
    """Eleven products over a three-level tree, with price and rating ties, stock, reservations."""
    electronics = shop.category("Electronics")
    computers = shop.category("Computers", parent_id=electronics["id"])
    laptops = shop.category("Laptops", parent_id=computers["id"])
    books = shop.category("Books")
    ids = {
        "Electronics": electronics["id"],
        "Computers": computers["id"],
        "Laptops": laptops["id"],
        "Books": books["id"],
    }
    tree = {
        "Electronics": ["Electronics", "Computers", "Laptops"],
        "Computers": ["Computers", "Laptops"],
        "Laptops": ["Laptops"],
        "Books": ["Books"],
    }
    # name, description, category, variant prices and stock, rating, state
    rows: list[tuple[str, str, str, list[tuple[int, int]], list[int], str]] = [
        ("Laptop Pro 13", "Aluminium ultrabook", "Laptops", [(129900, 3)], [5, 4], "listed"),
        ("Laptop Air", "Light and thin", "Laptops", [(109900, 0), (99900, 2)], [4], "listed"),
        ("Gaming Desktop", "Fast laptop alternative", "Computers", [(149900, 1)], [5], "reserved"),
        ("USB Cable", "Charges a laptop", "Electronics", [(999, 50)], [3], "listed"),
        ("Cable Organizer", "Tidy desk", "Electronics", [(1999, 0)], [4], "listed"),
        ("Python Book", "Learn programming", "Books", [(3999, 5)], [5, 4], "listed"),
        ("Laptop Sleeve", "Protective case", "Electronics", [(1999, 2)], [], "listed"),
        ("Hidden Laptop", "Not for sale", "Laptops", [(500, 9)], [5], "inactive"),
        ("Deleted Laptop", "Gone", "Laptops", [(600, 9)], [5], "deleted"),
        ("Cheap Book", "Paperback", "Books", [(999, 1)], [], "listed"),
        ("Free Laptop Stand", "", "Laptops", [(0, 1)], [3], "listed"),
    ]
    items = []
    for name, description, category, variants, ratings, state in rows:
        specs = [{"price_cents": price, "stock_quantity": stock} for price, stock in variants]
        product = shop.product_with_variants(ids[category], specs, name=name, description=description)
        set_rating(sessions, product["id"], ratings)
        available = sum(stock for _, stock in variants)
        if state == "reserved":
            set_reserved(sessions, product["variants"][0]["id"], variants[0][1])
            available = 0
        elif state == "inactive":
            shop.hide(product["id"])
        elif state == "deleted":
            shop.delete(product["id"])
        rating = round(sum(ratings) / len(ratings), 2) if ratings else 0.0
        price = min(price for price, _ in variants)
        items.append(
            Item(
                product["id"],
                name,
                description,
                category,
                price,
                rating,
                available,
                listed=state in ("listed", "reserved"),
            )
        )
    return Catalog(items, ids, tree, whole_words_but_last=backend == "postgresql")


SEARCHES = [None, "laptop", "LAP", "cable", "book lear"]
CATEGORY_FILTERS = [None, "Electronics", "Computers", "Laptops", "Books"]
PRICE_FILTERS: list[tuple[int | None, int | None]] = [(None, None), (999, None), (None, 1999), (999, 99900)]
STOCK_FILTERS = [None, "in_stock", "has_inventory"]


def _params(
    catalog: Catalog,
    search: str | None,
    category: str | None,
    prices: tuple[int | None, int | None],
    stock: str | None,
    sort: str,
    *,
    search_param: str = "search",
) -> dict[str, Any]:
    params: dict[str, Any] = {"sort": sort}
    if search:
        params[search_param] = search
    if category:
        params["category_id"] = catalog.categories[category]
    if prices[0] is not None:
        params["min_price_cents"] = prices[0]
    if prices[1] is not None:
        params["max_price_cents"] = prices[1]
    if stock:
        params[stock] = "true"
    return params


def _check_combination(
    client: FlaskClient,
    catalog: Catalog,
    backend: str,
    search: str | None,
    category: str | None,
    prices: tuple[int | None, int | None],
    stock: str | None,
    sort: str,
    index: int,
) -> None:
    postgres = backend == "postgresql"
    params = _params(
        catalog, search, category, prices, stock, sort, search_param="q" if index % 2 else "search"
    )
    expected = catalog.expected(
        search=search,
        category=category,
        min_price=prices[0],
        max_price=prices[1],
        in_stock=stock is not None,
        sort=sort,
    )
    served = _ids(client, limit=100, **params)
    context = f"{params} served {served} expected {expected}"
    if sort == "relevance" and search and postgres:
        # The rank order is PostgreSQL's (see the relevance test); the set is the model's
        assert sorted(served) == sorted(expected), context
    else:
        assert served == expected, context
    if index % 4 == 0:  # both paginations of a quarter of the combinations, to keep this test quick
        assert _walk(client, 2, **params) == served, context
        paged = _list(client, page=2, per_page=3, **params)
        assert [item["id"] for item in paged["items"]] == served[3:6], context
        assert (paged["page"], paged["per_page"], paged["total"]) == (2, 3, len(expected)), context


def test_every_filter_and_sort_combination_matches_the_model(
    client: FlaskClient, catalog: Catalog, backend: str
) -> None:
    # Every (search, category, sort) triple, with the price and stock filters rotating through theirs
    triples = list(itertools.product(SEARCHES, CATEGORY_FILTERS, SORTS))
    for index, (search, category, sort) in enumerate(triples):
        prices = PRICE_FILTERS[index % len(PRICE_FILTERS)]
        stock = STOCK_FILTERS[(index // len(PRICE_FILTERS)) % len(STOCK_FILTERS)]
        _check_combination(client, catalog, backend, search, category, prices, stock, sort, index)
    # Every (price, stock, sort) triple without search or category
    for index, (prices, stock, sort) in enumerate(itertools.product(PRICE_FILTERS, STOCK_FILTERS, SORTS)):
        _check_combination(client, catalog, backend, None, None, prices, stock, sort, index)


def test_the_model_is_not_vacuous(catalog: Catalog) -> None:
    # Guards the combination test: the reference catalog really exercises every filter and tie
    assert len(catalog.expected()) == 9
    assert catalog.expected(search="laptop") != catalog.expected(search="laptop", in_stock=True)
    assert catalog.expected(search="book lear") == [catalog.items[5].id]
    assert catalog.expected(min_price=999, max_price=999, sort="price_asc") == [
        catalog.items[3].id,
        catalog.items[9].id,
    ]
    assert catalog.expected(category="Computers") == [
        catalog.items[10].id,
        catalog.items[2].id,
        catalog.items[1].id,
        catalog.items[0].id,
    ]


def test_items_have_the_detail_representation(client: FlaskClient, catalog: Catalog) -> None:
    items = _list(client, limit=100)["items"]

    assert len(items) == 9
    for item in items:
        assert client.get(f"{PRODUCTS}/{item['id']}").json == item


def test_the_default_page_is_newest_first_with_no_cursor_when_complete(
    client: FlaskClient, catalog: Catalog
) -> None:
    body = _list(client)

    assert set(body) == {"items", "next_cursor"}
    assert [item["id"] for item in body["items"]] == catalog.expected()
    assert body["next_cursor"] is None


@pytest.mark.postgres_only
def test_relevance_ranks_name_matches_above_description_matches(
    client: FlaskClient, catalog: Catalog, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("full-text ranking is PostgreSQL's; SQLite falls back to newest first")
    by_name = {item.name: item.id for item in catalog.items}

    served = _ids(client, search="laptop", sort="relevance", limit=100)

    name_matches = {by_name[n] for n in ("Laptop Pro 13", "Laptop Air", "Laptop Sleeve", "Free Laptop Stand")}
    description_matches = {by_name[n] for n in ("Gaming Desktop", "USB Cable")}
    assert set(served[:4]) == name_matches
    assert set(served[4:]) == description_matches


def test_relevance_without_search_is_newest_first(client: FlaskClient, catalog: Catalog) -> None:
    assert _ids(client, sort="relevance") == catalog.expected()


def test_search_is_case_insensitive_and_matches_word_prefixes(client: FlaskClient, catalog: Catalog) -> None:
    by_name = {item.name: item.id for item in catalog.items}

    assert _ids(client, search="ULTRAB") == [by_name["Laptop Pro 13"]]
    assert _ids(client, q="paperb") == [by_name["Cheap Book"]]
    assert _ids(client, search="  tidy  ") == [by_name["Cable Organizer"]]
    assert _ids(client, search="nothing-like-this") == []


def test_search_treats_any_text_as_words_never_as_syntax(client: FlaskClient, catalog: Catalog) -> None:
    texts = [
        "%%",
        "__",
        "lap' 13 --",
        "lap & | ! :* ()",
        "\\\\",
        "'; DROP TABLE products; --",
        "ÄÖÜ ß",
        "😀😀",
        "lap:*",
        "the",  # a stop word on PostgreSQL: no lexeme left, nothing found
    ]
    for text in texts:
        response = client.get(PRODUCTS, query_string={"search": text})

        assert response.status_code == 200, (text, response.json)
        assert [item["id"] for item in response.json["items"]] == catalog.expected(search=text), text


INVALID_QUERIES = [
    ("search-one-char", {"search": "a"}),
    ("search-one-char-padded", {"search": " a "}),
    ("search-empty", {"search": ""}),
    ("q-one-char", {"q": "a"}),
    ("search-too-long", {"search": "x" * 201}),
    ("limit-0", {"limit": 0}),
    ("limit-101", {"limit": 101}),
    ("limit-negative", {"limit": -1}),
    ("limit-word", {"limit": "ten"}),
    ("limit-fraction", {"limit": "1.5"}),
    ("page-0", {"page": 0}),
    ("page-word", {"page": "x"}),
    ("per-page-0", {"per_page": 0}),
    ("per-page-101", {"per_page": 101}),
    ("page-and-cursor", {"page": 1, "cursor": make_cursor({"id": 5})}),
    ("min-above-max", {"min_price_cents": 500, "max_price_cents": 499}),
    ("min-negative", {"min_price_cents": -1}),
    ("max-negative", {"max_price_cents": -1}),
    ("min-fraction", {"min_price_cents": "1.5"}),
    ("max-word", {"max_price_cents": "cheap"}),
    ("max-absurd", {"max_price_cents": 10**13}),
    ("category-0", {"category_id": 0}),
    ("category-word", {"category_id": "books"}),
    ("in-stock-word", {"in_stock": "maybe"}),
    ("has-inventory-2", {"has_inventory": "2"}),
    ("in-stock-1", {"in_stock": "1"}),
    ("has-inventory-yes", {"has_inventory": "yes"}),
    ("limit-twice", {"limit": [5, 6]}),
    ("unknown-sort", {"sort": "cheapest"}),
    ("sort-case", {"sort": "PRICE_ASC"}),
    ("unknown-parameter", {"colour": "red"}),
    ("cursor-too-long", {"cursor": "x" * 501}),
]


def test_an_invalid_query_is_422(client: FlaskClient) -> None:
    for label, params in INVALID_QUERIES:
        problem = assert_problem(client.get(PRODUCTS, query_string=params), 422)
        assert problem["code"] == "validation_error", label
        assert problem["errors"], label


def test_the_error_names_the_bad_parameter(client: FlaskClient) -> None:
    problem = assert_problem(client.get(PRODUCTS, query_string={"limit": 500}), 422, "validation_error")

    assert error_fields(problem) == {"limit"}


def test_equal_price_bounds_are_inclusive(client: FlaskClient, catalog: Catalog) -> None:
    assert _ids(client, min_price_cents=1999, max_price_cents=1999, sort="price_asc") == catalog.expected(
        min_price=1999, max_price=1999, sort="price_asc"
    )
    assert len(_ids(client, min_price_cents=1999, max_price_cents=1999)) == 2


def test_in_stock_false_applies_no_stock_filter(client: FlaskClient, catalog: Catalog) -> None:
    assert _ids(client, in_stock="false") == catalog.expected()
    assert _ids(client, has_inventory="false") == catalog.expected()


def test_an_unknown_category_filter_is_404(client: FlaskClient, catalog: Catalog) -> None:
    for category_id in (999_999, 10**20):
        assert_problem(
            client.get(PRODUCTS, query_string={"category_id": category_id}), 404, "category_not_found"
        )


def test_the_list_answers_with_and_without_a_trailing_slash(client: FlaskClient, catalog: Catalog) -> None:
    assert _list(client, f"{PRODUCTS}/") == _list(client)


# --- pagination --------------------------------------------------------------------------------
@pytest.fixture
def many(shop: Shop, sessions: sessionmaker[Session]) -> list[int]:
    """25 listed products with few distinct prices and ratings (many ties), oldest first."""
    category = shop.category("Bulk")
    with sessions() as session:
        ids = create_products(
            session,
            (
                {
                    "name": f"Bulk item {n}",
                    "category_id": category["id"],
                    "price_cents": (n % 4) * 100,
                    "stock_quantity": n % 2,
                }
                for n in range(25)
            ),
        )
    set_ratings(sessions, {product_id: [n % 3 + 1] for n, product_id in enumerate(ids)})
    return ids


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_pages_cover_the_list_exactly_once_in_order(
    client: FlaskClient, many: list[int], sort: str
) -> None:
    everything = _ids(client, sort=sort, limit=100)
    assert len(everything) == 25

    for limit in (1, 7, 24, 25, 100):
        assert _walk(client, limit, sort=sort) == everything, limit


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_pages_of_a_search_cover_its_matches_exactly_once_in_order(
    client: FlaskClient, many: list[int], sort: str
) -> None:
    # Every product matches "bulk" equally well: relevance pages through a 25-way tie on the rank
    everything = _ids(client, sort=sort, search="bulk", limit=100)
    assert len(everything) == 25

    for limit in (1, 7, 24):
        assert _walk(client, limit, sort=sort, search="bulk") == everything, limit
    pages = [_list(client, sort=sort, search="bulk", page=n, per_page=7)["items"] for n in range(1, 5)]
    assert [item["id"] for page in pages for item in page] == everything


def test_a_full_last_page_has_no_next_cursor(client: FlaskClient, many: list[int]) -> None:
    first = _list(client, limit=20)
    last = _list(client, limit=20, cursor=first["next_cursor"])

    assert len(first["items"]) == 20
    assert first["next_cursor"] is not None
    assert len(last["items"]) == 5
    assert last["next_cursor"] is None
    assert _list(client, limit=25)["next_cursor"] is None


def test_the_default_limit_is_20_and_the_maximum_100(client: FlaskClient, many: list[int]) -> None:
    assert len(_list(client)["items"]) == 20
    assert len(_list(client, limit=100)["items"]) == 25


def test_the_cursor_is_opaque(client: FlaskClient, many: list[int]) -> None:
    page = _list(client, limit=2, sort="price_asc")

    cursor = page["next_cursor"]
    assert isinstance(cursor, str)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor)  # URL-safe, nothing to escape
    assert str(page["items"][-1]["id"]) not in cursor


@pytest.mark.parametrize("sort", SORTS)
def test_pages_cover_the_list_exactly_once_in_order(client: FlaskClient, many: list[int], sort: str) -> None:
    everything = _ids(client, sort=sort, limit=100)
    for per_page in (1, 4, 25):
        served: list[int] = []
        page = 1
        while True:
            body = _list(client, sort=sort, page=page, per_page=per_page)
            assert set(body) == {"items", "page", "per_page", "total"}
            assert (body["page"], body["per_page"], body["total"]) == (page, per_page, 25)
            if not body["items"]:
                break
            served.extend(item["id"] for item in body["items"])
            page += 1

        assert served == everything, per_page
        assert page == -(-25 // per_page) + 1


def test_page_without_per_page_uses_the_limit(client: FlaskClient, many: list[int]) -> None:
    body = _list(client, page=2)

    assert (body["page"], body["per_page"], body["total"]) == (2, 20, 25)
    assert [item["id"] for item in body["items"]] == list(reversed(many))[20:]
    assert _list(client, per_page=3)["page"] == 1
    assert _list(client, page=2, limit=10)["per_page"] == 10


def test_a_page_past_the_end_is_empty_but_counts(client: FlaskClient, many: list[int]) -> None:
    assert _list(client, page=99, per_page=10) == {"items": [], "page": 99, "per_page": 10, "total": 25}


@pytest.mark.parametrize("sort", SORTS)
def test_cursor_paging_is_stable_under_inserts_and_deletes(
    shop: Shop, client: FlaskClient, many: list[int], sort: str
) -> None:
    # Given a reader half-way through the list
    before = _ids(client, sort=sort, limit=100)
    first = _list(client, sort=sort, limit=10)
    served = [item["id"] for item in first["items"]]
    category_id = first["items"][0]["category"]["id"]

    # When products are added (at both ends of every sort) and one already served is deleted
    added = [
        shop.product(category_id, f"Bulk late {n}", price_cents=price, stock_quantity=1)["id"]
        for n, price in enumerate((0, 150, 99_999))
    ]
    shop.delete(served[0])
    cursor = first["next_cursor"]
    while cursor:
        page = _list(client, sort=sort, limit=10, cursor=cursor)
        served.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]

    # Then every product that existed before is served exactly once; new ones at most once
    assert len(served) == len(set(served))
    assert set(before) <= set(served)
    assert set(served) <= set(before) | set(added)


TAMPERED_CURSORS = [
    ("garbage", "newest", "not a cursor!"),
    ("not-base64", "newest", "%%%"),
    ("not-an-object", "newest", make_cursor([1])),
    ("a-string", "newest", make_cursor("id")),
    ("empty-object", "newest", make_cursor({})),
    ("wrong-key", "newest", make_cursor({"offset": 3})),
    ("extra-key", "newest", make_cursor({"id": 3, "extra": 1})),
    ("id-string", "newest", make_cursor({"id": "abc"})),
    ("id-numeric-string", "newest", make_cursor({"id": "3"})),
    ("id-bool", "newest", make_cursor({"id": True})),
    ("id-float", "newest", make_cursor({"id": 1.5})),
    ("id-null", "newest", make_cursor({"id": None})),
    ("id-huge", "newest", make_cursor({"id": 10**20})),
    ("id-huge-negative", "newest", make_cursor({"id": -(10**20)})),
    ("id-past-int4", "newest", make_cursor({"id": 2**31})),
    ("cursor-of-another-sort", "price_asc", make_cursor({"id": 3})),
    ("price-string", "price_asc", make_cursor({"price": "100", "id": 3})),
    ("price-bool", "price_asc", make_cursor({"price": False, "id": 3})),
    ("price-huge", "price_desc", make_cursor({"price": 10**30, "id": 3})),
    ("price-float", "price_desc", make_cursor({"price": 2.5, "id": 3})),
    ("rating-word", "rating", make_cursor({"rating": "abc", "id": 3})),
    ("rating-nan", "rating", make_cursor({"rating": "NaN", "id": 3})),
    ("rating-infinity", "rating", make_cursor({"rating": "Infinity", "id": 3})),
    ("rating-snan", "rating", make_cursor({"rating": "-sNaN", "id": 3})),
    ("rating-huge", "rating", make_cursor({"rating": "1e999999", "id": 3})),
    # Within 0..5, but no numeric column holds it: PostgreSQL's numeric overflowed (a 500).
    ("rating-tiny-exponent", "rating", make_cursor({"rating": "1E-20000", "id": 3})),
    ("rating-exponent", "rating", make_cursor({"rating": "4E0", "id": 3})),
    ("rating-three-decimals", "rating", make_cursor({"rating": "4.125", "id": 3})),
    ("rating-negative-zero", "rating", make_cursor({"rating": "-0", "id": 3})),
    ("rating-bool", "rating", make_cursor({"rating": True, "id": 3})),
    ("rating-list", "rating", make_cursor({"rating": [4], "id": 3})),
    ("rating-id-string", "rating", make_cursor({"rating": "4.5", "id": "3"})),
]


def test_a_tampered_cursor_is_422(client: FlaskClient, many: list[int]) -> None:
    for label, sort, cursor in TAMPERED_CURSORS:
        response = client.get(PRODUCTS, query_string={"sort": sort, "cursor": cursor})
        assert response.status_code == 422, (label, response.json)
        assert_problem(response, 422, "invalid_cursor")


def test_a_tampered_relevance_cursor_is_422(client: FlaskClient, many: list[int], backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("relevance cursors carry a rank only on PostgreSQL")
    page = _list(client, sort="relevance", search="bulk", limit=2)
    assert page["next_cursor"] is not None
    last_id = page["items"][-1]["id"]

    for rank in ('"abc"', '"NaN"', "NaN", "1e999", "-Infinity", "true", "null", '"0.5"', "[0.5]"):
        raw = f'{{"rank": {rank}, "id": {last_id}}}'
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        response = client.get(
            PRODUCTS, query_string={"sort": "relevance", "search": "bulk", "cursor": cursor}
        )
        assert response.status_code == 422, (rank, response.json)
        assert_problem(response, 422, "invalid_cursor")


def test_a_forged_but_well_formed_cursor_just_continues_from_there(
    client: FlaskClient, many: list[int]
) -> None:
    # Cursors are opaque, not secret: a well-formed position is a valid place to continue from
    newest_first = list(reversed(many))

    assert _ids(client, cursor=make_cursor({"id": newest_first[4]}), limit=3) == newest_first[5:8]


# --- ETag --------------------------------------------------------------------------------------
def test_the_list_has_a_strong_etag_and_answers_304_to_it(client: FlaskClient, catalog: Catalog) -> None:
    first = client.get(PRODUCTS)
    etag = first.headers["ETag"]

    again = client.get(PRODUCTS, headers={"If-None-Match": etag})
    among_others = client.get(PRODUCTS, headers={"If-None-Match": f'"nope", {etag}'})

    assert re.fullmatch(r'"[^"]+"', etag)  # strong: no W/ prefix
    assert client.get(PRODUCTS).headers["ETag"] == etag  # deterministic
    # Compact JSON, as every other answer: the ETag is a hash of exactly these bytes.
    assert first.get_data() == json.dumps(first.json, separators=(",", ":")).encode() + b"\n"
    assert etag == '"' + hashlib.sha256(first.get_data()).hexdigest()[:32] + '"'
    assert first.mimetype == "application/json"
    for response in (again, among_others):
        assert response.status_code == 304
        assert response.get_data() == b""
        assert response.headers["ETag"] == etag


def test_a_different_etag_gets_the_full_answer(client: FlaskClient, catalog: Catalog) -> None:
    response = client.get(PRODUCTS, headers={"If-None-Match": '"something-else"'})

    assert response.status_code == 200
    assert len(response.json["items"]) == 9


def test_the_etag_depends_on_the_query_and_the_page_mode(client: FlaskClient, catalog: Catalog) -> None:
    tags = {
        client.get(PRODUCTS, query_string=params).headers["ETag"]
        for params in (
            {},
            {"sort": "price_asc"},
            {"limit": 2},
            {"page": 1, "per_page": 2},
            {"search": "laptop"},
        )
    }

    assert len(tags) == 5
    page_mode = client.get(PRODUCTS, query_string={"page": 1, "per_page": 2})
    assert (
        client.get(
            PRODUCTS,
            query_string={"page": 1, "per_page": 2},
            headers={"If-None-Match": page_mode.headers["ETag"]},
        ).status_code
        == 304
    )


def test_any_change_to_what_is_shown_changes_the_etag(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], catalog: Catalog
) -> None:
    target = next(item for item in catalog.items if item.name == "USB Cable")
    variant_id = client.get(f"{PRODUCTS}/{target.id}").json["variants"][0]["id"]
    etag = client.get(PRODUCTS).headers["ETag"]
    changes = [
        lambda: shop.update(target.id, price_cents=1234),
        lambda: set_reserved(sessions, variant_id, 1),  # availability is part of the answer
        lambda: shop.product(catalog.categories["Books"], "Brand new"),
        lambda: shop.delete(target.id),
    ]

    for change in changes:
        change()
        response = client.get(PRODUCTS, headers={"If-None-Match": etag})
        assert response.status_code == 200, "a stale ETag must not get a 304"
        assert response.headers["ETag"] != etag
        etag = response.headers["ETag"]


# --- recommendations ---------------------------------------------------------------------------
def test_recommendations_are_other_listed_products_of_the_same_category(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    laptops = shop.category("Laptops")
    sub = shop.category("Gaming laptops", parent_id=laptops["id"])
    other = shop.category("Books")
    product = shop.product(laptops["id"], "Laptop")
    popular = shop.product(laptops["id"], "Popular laptop")
    plain = shop.product(laptops["id"], "Plain laptop", stock_quantity=0)
    shop.hide(shop.product(laptops["id"], "Inactive laptop")["id"])
    shop.delete(shop.product(laptops["id"], "Deleted laptop")["id"])
    shop.product(sub["id"], "In a sub-category")
    shop.product(other["id"], "A book")
    set_rating(sessions, popular["id"], [5, 5, 4])

    response = client.get(f"{PRODUCTS}/{product['id']}/recommendations")

    assert response.status_code == 200
    assert set(response.json) == {"items"}
    items = response.json["items"]
    # without paid orders (bought together, best sellers: tests/api/test_purchase_signals.py), newest first
    assert [item["id"] for item in items] == [plain["id"], popular["id"]]
    assert items[1] == client.get(f"{PRODUCTS}/{popular['id']}").json


def test_recommendations_are_capped(shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    category = shop.category("Bulk")
    with sessions() as session:
        ids = create_products(
            session, ({"name": f"Item {n}", "category_id": category["id"]} for n in range(12))
        )

    items = client.get(f"{PRODUCTS}/{ids[0]}/recommendations").json["items"]

    assert [item["id"] for item in items] == list(reversed(ids))[:8]


def test_a_product_alone_in_its_category_has_no_recommendations(shop: Shop, client: FlaskClient) -> None:
    product = shop.product(shop.category("Lonely")["id"])

    assert client.get(f"{PRODUCTS}/{product['id']}/recommendations").json == {"items": []}


def test_recommendations_of_a_hidden_or_unknown_product_are_404(shop: Shop, client: FlaskClient) -> None:
    category = shop.category("Laptops")
    inactive = shop.product(category["id"])
    shop.hide(inactive["id"])
    deleted = shop.product(category["id"])
    shop.delete(deleted["id"])
    shop.product(category["id"])

    for product_id in (inactive["id"], deleted["id"], 999_999, 10**20):
        assert_problem(client.get(f"{PRODUCTS}/{product_id}/recommendations"), 404, "product_not_found")


def test_relevance_ranks_only_the_newest_candidates(
    client: FlaskClient, catalog: Catalog, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("full-text ranking is PostgreSQL's")
    # Ranking every match of a broad word in a huge catalog is slow; relevance orders the newest few.
    monkeypatch.setattr("shopwright.catalog.listing.RELEVANCE_CANDIDATES", 3)

    served = _ids(client, search="laptop", sort="relevance")

    assert sorted(served) == sorted(catalog.expected(search="laptop")[:3])


@pytest.mark.parametrize(
    "path", ["/api/products", "/api/products/1/reviews", "/api/admin/users", "/api/orders"]
)
def test_a_deeply_nested_cursor_is_422_not_500(
    app: Flask, client: FlaskClient, shop: Shop, path: str
) -> None:
    # Decoding recursed once per level: 5,000 levels were a RecursionError (a 500).
    nested = "[" * 5000 + "]" * 5000
    cursor = base64.urlsafe_b64encode(nested.encode()).decode().rstrip("=")
    shop.product(shop.category()["id"])

    response = client.get(path, query_string={"cursor": cursor}, headers=shop.headers)

    assert_problem(response, 422)
