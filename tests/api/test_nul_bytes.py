"""NUL characters in any string a client sends are refused with 422 before anything is written.

PostgreSQL cannot store U+0000 in text (the driver raised a DataError: a 500) and SQLite stored it, so
the rule lives in the shared schema types (shopwright/schemas.py), not in each field.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import Base
from tests.factories import Account, address_payload, admin, assert_problem, customer, error_fields
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

NUL = "\x00"


def _row_counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


# (method, path, json body) with a NUL in one string field; `who` is anonymous, customer or admin.
CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("anonymous", "POST", "/api/auth/login", {"email": f"a{NUL}@example.com", "password": "x"}, "email"),
    ("anonymous", "POST", "/api/auth/login", {"email": "a@example.com", "password": f"pw{NUL}"}, "password"),
    (
        "anonymous",
        "POST",
        "/api/auth/register",
        {"email": "nul@example.com", "password": "Passw0rd-ok", "full_name": f"Nul{NUL}Name"},
        "full_name",
    ),
    ("anonymous", "POST", "/api/auth/password-reset", {"email": f"x{NUL}@example.com"}, "email"),
    ("customer", "PATCH", "/api/auth/me", {"full_name": f"Eve{NUL}"}, "full_name"),
    ("customer", "POST", "/api/auth/me/addresses", address_payload(city=f"Ber{NUL}lin"), "city"),
    ("customer", "POST", "/api/products/PRODUCT/reviews", {"rating": 4, "body": f"ok{NUL}"}, "body"),
    ("customer", "POST", "/api/orders", {"delivery_address": f"1 Main St{NUL}"}, "delivery_address"),
    (
        "customer",
        "POST",
        "/api/orders",
        {"delivery_address": "1 Main St", "voucher_code": f"SAVE{NUL}"},
        "voucher_code",
    ),
    (
        "admin",
        "POST",
        "/api/admin/vouchers",
        {"code": f"AB{NUL}C", "kind": "percent", "percent_off": 5},
        "code",
    ),
    ("admin", "POST", "/api/categories", {"name": f"Gar{NUL}den"}, "name"),
    (
        "admin",
        "PATCH",
        "/api/products/PRODUCT",
        {"description": f"fine{NUL}print"},
        "description",
    ),
    (
        "admin",
        "POST",
        "/api/products/PRODUCT/variants",
        {"sku": "NUL-1", "price_cents": 100, "attributes": {"size": f"X{NUL}L"}},
        "attributes",
    ),
]


@pytest.fixture
def product_id(shop: Shop) -> int:
    return int(shop.product(shop.category("Tools")["id"], price_cents=900, stock_quantity=5)["id"])


@pytest.mark.parametrize(("who", "method", "path", "body", "field"), CASES, ids=lambda v: str(v)[:24])
def test_a_nul_in_a_body_string_is_422_and_writes_nothing(
    app: Flask,
    client: FlaskClient,
    sessions: sessionmaker[Session],
    buyer: Buyer,
    product_id: int,
    who: str,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    account: Account | None = {"customer": buyer.account, "admin": admin(app, client), "anonymous": None}[who]
    buyer.added(1, product_id=product_id)  # checkout cases: a cart that could become an order
    before = _row_counts(sessions)

    response = client.open(
        path.replace("PRODUCT", str(product_id)),
        method=method,
        json=body,
        headers=account.headers if account else {},
    )

    problem = assert_problem(response, 422, "validation_error")
    assert field in error_fields(problem), problem
    assert "NUL" in problem["detail"]
    assert _row_counts(sessions) == before


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/api/admin/users?q=a%00b", "admin"),
        ("/api/products?q=ab%00cd", None),
        ("/api/products?search=%00%00", None),
        ("/api/admin/orders?cursor=%00", "admin"),
    ],
)
def test_a_nul_in_a_query_string_is_422(app: Flask, client: FlaskClient, path: str, role: str | None) -> None:
    headers = admin(app, client).headers if role == "admin" else {}
    assert_problem(client.get(path, headers=headers), 422, "validation_error")


def test_nul_in_an_email_change_is_422(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    account = customer(client)
    before = _row_counts(sessions)
    response = client.patch(
        "/api/auth/me",
        json={"email": f"new{NUL}@example.com", "current_password": account.password},
        headers=account.headers,
    )
    assert_problem(response, 422, "validation_error")
    assert _row_counts(sessions) == before
