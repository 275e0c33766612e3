"""Reviews: one per customer and product, strict ratings, the product's rating average, the review list."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import Account, assert_problem, customer, error_fields
from tests.factories.catalog import PRODUCTS, Shop, counts, make_cursor, product_row


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(shop.category("Books")["id"], "Python Book")


def _review(client: FlaskClient, account: Account, product_id: int, **body: Any) -> Any:
    return client.post(f"{PRODUCTS}/{product_id}/reviews", json=body, headers=account.headers)


def _reviews(client: FlaskClient, product_id: int, **params: Any) -> dict[str, Any]:
    response = client.get(f"{PRODUCTS}/{product_id}/reviews", query_string=params)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _rating(client: FlaskClient, product_id: int) -> tuple[float, int]:
    detail = client.get(f"{PRODUCTS}/{product_id}").json
    return detail["rating_avg"], detail["rating_count"]


def _mean(ratings: list[int]) -> float:
    return float((Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# --- writing a review --------------------------------------------------------------------------
def test_a_customer_reviews_a_product(client: FlaskClient, product: dict[str, Any]) -> None:
    account = customer(client)

    response = _review(
        client, account, product["id"], rating=4, title="  Solid  ", body="Clear and complete."
    )

    assert response.status_code == 201, response.json
    review = response.json
    assert review == {
        "id": review["id"],
        "product_id": product["id"],
        "user_id": account.id,
        "rating": 4,
        "title": "Solid",
        "body": "Clear and complete.",
        "verified_purchase": False,
        "created_at": review["created_at"],
    }
    assert review["created_at"].endswith("Z")
    assert _rating(client, product["id"]) == (4.0, 1)
    assert _reviews(client, product["id"]) == {"items": [review], "next_cursor": None}


def test_title_and_body_are_optional(client: FlaskClient, product: dict[str, Any]) -> None:
    response = _review(client, customer(client), product["id"], rating=5)

    assert response.status_code == 201
    assert (response.json["title"], response.json["body"]) == (None, None)


def test_the_average_is_exact_to_two_decimals_after_every_review(
    client: FlaskClient, product: dict[str, Any]
) -> None:
    ratings: list[int] = []
    for rating in (5, 4, 4, 1, 2, 3, 5):
        assert _review(client, customer(client), product["id"], rating=rating).status_code == 201
        ratings.append(rating)

        assert _rating(client, product["id"]) == (_mean(ratings), len(ratings)), ratings
    # 5, 4.5, 4.33, 3.5, 3.2, 3.17, 3.43
    assert _mean(ratings) == 3.43


@pytest.mark.parametrize(
    ("ratings", "average"), [([1, 2], 1.5), ([4, 5], 4.5), ([1, 1, 2], 1.33), ([5, 5, 4], 4.67)]
)
def test_averages_that_are_not_whole_numbers(
    client: FlaskClient, product: dict[str, Any], ratings: list[int], average: float
) -> None:
    for rating in ratings:
        assert _review(client, customer(client), product["id"], rating=rating).status_code == 201

    assert _rating(client, product["id"]) == (average, len(ratings))
    listed = client.get(PRODUCTS).json["items"][0]
    assert (listed["rating_avg"], listed["rating_count"]) == (average, len(ratings))


def test_a_second_review_by_the_same_customer_is_409_and_changes_nothing(
    client: FlaskClient, sessions: sessionmaker[Session], product: dict[str, Any]
) -> None:
    account = customer(client)
    first = _review(client, account, product["id"], rating=5, title="Great").json
    before = counts(sessions)

    again = _review(client, account, product["id"], rating=1, title="Changed my mind")

    assert_problem(again, 409, "review_exists")
    assert counts(sessions) == before
    assert _rating(client, product["id"]) == (5.0, 1)
    assert _reviews(client, product["id"])["items"] == [first]
    row = product_row(sessions, product["id"])
    assert (row.rating_count, row.rating_sum) == (1, 5)


def test_one_customer_may_review_several_products(
    shop: Shop, client: FlaskClient, product: dict[str, Any]
) -> None:
    other = shop.product(product["category"]["id"], "Other book")
    account = customer(client)

    assert _review(client, account, product["id"], rating=5).status_code == 201
    assert _review(client, account, other["id"], rating=2).status_code == 201
    assert _rating(client, product["id"]) == (5.0, 1)
    assert _rating(client, other["id"]) == (2.0, 1)


INVALID_REVIEWS = [
    pytest.param({"rating": 0}, "rating", id="zero"),
    pytest.param({"rating": 6}, "rating", id="six"),
    pytest.param({"rating": -1}, "rating", id="negative"),
    pytest.param({"rating": True}, "rating", id="true"),
    pytest.param({"rating": "5"}, "rating", id="string"),
    pytest.param({"rating": 4.5}, "rating", id="fraction"),
    pytest.param({"rating": 5.0}, "rating", id="whole-float"),
    pytest.param({"rating": None}, "rating", id="null"),
    pytest.param({}, "rating", id="missing"),
    pytest.param({"rating": 5, "title": "x" * 201}, "title", id="long-title"),
    pytest.param({"rating": 5, "body": "x" * 10001}, "body", id="long-body"),
    pytest.param({"rating": 5, "title": 7}, "title", id="title-number"),
    pytest.param({"rating": 5, "verified_purchase": True}, "verified_purchase", id="self-verified"),
    pytest.param({"rating": 5, "user_id": 1}, "user_id", id="someone-else"),
    pytest.param({"rating": 5, "stars": 5}, "stars", id="unknown-field"),
]


def test_an_invalid_review_is_422_and_nothing_is_written(
    client: FlaskClient, sessions: sessionmaker[Session], product: dict[str, Any]
) -> None:
    account = customer(client)
    before = counts(sessions)

    for case in INVALID_REVIEWS:
        body, field = case.values
        response = _review(client, account, product["id"], **body)

        assert error_fields(assert_problem(response, 422, "validation_error")) == {field}, case.id
        assert counts(sessions) == before, case.id
    assert _rating(client, product["id"]) == (0.0, 0)
    # The customer can still write their one review afterwards
    assert _review(client, account, product["id"], rating=3).status_code == 201


def test_malformed_json_is_400(client: FlaskClient, product: dict[str, Any]) -> None:
    account = customer(client)

    response = client.post(
        f"{PRODUCTS}/{product['id']}/reviews",
        data="{rating: 5",
        content_type="application/json",
        headers=account.headers,
    )

    assert_problem(response, 400)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="anonymous"),
        pytest.param({"Authorization": "Bearer not-a-token"}, id="garbage-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwdw=="}, id="wrong-scheme"),
    ],
)
def test_reviewing_needs_a_valid_token(
    client: FlaskClient, sessions: sessionmaker[Session], product: dict[str, Any], headers: dict[str, str]
) -> None:
    before = counts(sessions)

    # Even with an invalid body the answer is 401: authentication comes before validation
    for body in ({"rating": 5}, {"rating": 99}):
        response = client.post(f"{PRODUCTS}/{product['id']}/reviews", json=body, headers=headers)
        assert_problem(response, 401, "unauthorized")
    assert counts(sessions) == before


def test_a_logged_out_token_cannot_review(client: FlaskClient, product: dict[str, Any]) -> None:
    account = customer(client)
    assert client.post("/api/auth/logout", headers=account.headers).status_code in (200, 204)

    assert_problem(_review(client, account, product["id"], rating=5), 401, "unauthorized")


def test_reviewing_a_hidden_or_unknown_product_is_404(
    shop: Shop, client: FlaskClient, sessions: sessionmaker[Session], product: dict[str, Any]
) -> None:
    inactive = shop.product(product["category"]["id"])
    shop.hide(inactive["id"])
    deleted = shop.product(product["category"]["id"])
    shop.delete(deleted["id"])
    account = customer(client)
    before = counts(sessions)

    for product_id in (inactive["id"], deleted["id"], 999_999, 10**20):
        assert_problem(_review(client, account, product_id, rating=5), 404, "product_not_found")
    assert counts(sessions) == before


# --- the review list ---------------------------------------------------------------------------
def test_reviews_are_listed_newest_first_with_a_cursor(client: FlaskClient, product: dict[str, Any]) -> None:
    ids = [_review(client, customer(client), product["id"], rating=n).json["id"] for n in (1, 2, 3, 4, 5)]

    first = _reviews(client, product["id"], limit=2)
    second = _reviews(client, product["id"], limit=2, cursor=first["next_cursor"])
    third = _reviews(client, product["id"], limit=2, cursor=second["next_cursor"])

    assert [r["id"] for r in first["items"] + second["items"] + third["items"]] == list(reversed(ids))
    assert third["next_cursor"] is None
    assert [r["rating"] for r in _reviews(client, product["id"])["items"]] == [5, 4, 3, 2, 1]
    exact = _reviews(client, product["id"], limit=5)
    assert exact["next_cursor"] is None


def test_reviews_of_other_products_are_not_listed(
    shop: Shop, client: FlaskClient, product: dict[str, Any]
) -> None:
    other = shop.product(product["category"]["id"])
    account = customer(client)
    _review(client, account, other["id"], rating=2)

    assert _reviews(client, product["id"]) == {"items": [], "next_cursor": None}
    assert len(_reviews(client, other["id"])["items"]) == 1


def test_the_review_list_is_public_and_takes_a_trailing_slash(
    client: FlaskClient, product: dict[str, Any]
) -> None:
    _review(client, customer(client), product["id"], rating=3)

    response = client.get(f"{PRODUCTS}/{product['id']}/reviews/")

    assert response.status_code == 200
    assert len(response.json["items"]) == 1


def test_reviews_of_a_hidden_or_unknown_product_are_404(
    shop: Shop, client: FlaskClient, product: dict[str, Any]
) -> None:
    _review(client, customer(client), product["id"], rating=3)
    shop.hide(product["id"])

    for product_id in (product["id"], 999_999, 10**20):
        assert_problem(client.get(f"{PRODUCTS}/{product_id}/reviews"), 404, "product_not_found")
    shop.update(product["id"], is_active=True)
    shop.delete(product["id"])
    assert_problem(client.get(f"{PRODUCTS}/{product['id']}/reviews"), 404, "product_not_found")


def test_an_invalid_review_query_is_422(client: FlaskClient, product: dict[str, Any]) -> None:
    path = f"{PRODUCTS}/{product['id']}/reviews"

    for params in ({"limit": 0}, {"limit": 101}, {"limit": "many"}, {"sort": "oldest"}):
        assert_problem(client.get(path, query_string=params), 422, "validation_error")


def test_a_tampered_review_cursor_is_422(client: FlaskClient, product: dict[str, Any]) -> None:
    _review(client, customer(client), product["id"], rating=3)
    path = f"{PRODUCTS}/{product['id']}/reviews"
    tampered = {
        "garbage": "not a cursor!",
        "not-an-object": make_cursor([1]),
        "wrong-key": make_cursor({"offset": 1}),
        "id-string": make_cursor({"id": "abc"}),
        "id-numeric-string": make_cursor({"id": "3"}),
        "id-bool": make_cursor({"id": True}),
        "id-float": make_cursor({"id": 1.5}),
        "id-null": make_cursor({"id": None}),
        "id-huge": make_cursor({"id": 10**20}),
        "id-past-int4": make_cursor({"id": 2**31}),
    }

    for label, cursor in tampered.items():
        response = client.get(path, query_string={"cursor": cursor})
        assert response.status_code == 422, (label, response.json)
        assert_problem(response, 422, "invalid_cursor")
