"""Admin vouchers: /api/admin/vouchers CRUD, roles, validation, duplicate codes, redeemed vouchers."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order
from shopwright.promotions import service as promotions
from shopwright.promotions.models import Voucher
from tests.factories import Account, admin, assert_problem, customer, error_fields
from tests.factories.catalog import make_cursor

VOUCHERS = "/api/admin/vouchers"
PERCENT = {"code": "summer10", "kind": "percent", "percent_off": 10}
FIXED = {"code": "FIVE-OFF", "kind": "fixed", "amount_off_cents": 500, "currency": "eur"}


@pytest.fixture
def boss(app: Flask, client: FlaskClient) -> Account:
    return admin(app, client)


def _create(client: FlaskClient, boss: Account, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(VOUCHERS, json=body, headers=boss.headers)
    assert response.status_code == 201, response.json
    created: dict[str, Any] = response.json  # type: ignore[assignment]
    return created


def _vouchers(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Every stored voucher's editable state, to assert that a refused request wrote nothing."""
    with sessions() as session:
        rows = session.scalars(select(Voucher).order_by(Voucher.id))
        return [
            {c.key: getattr(v, c.key) for c in Voucher.__table__.columns if c.key != "updated_at"}
            for v in rows
        ]


def _redeem(sessions: sessionmaker[Session], code: str, user_id: int) -> None:
    """Redeem a voucher for a minimal order row (the orders domain is not needed to arrange this)."""
    with sessions() as session, session.begin():
        order_id = session.execute(
            insert(Order)
            .values(
                user_id=user_id,
                currency="USD",
                subtotal_cents=10_000,
                total_cents=10_000,
                shipping_address={},
            )
            .returning(Order.id)
        ).scalar_one()
        promotions.redeem_voucher(
            session, code, user_id=user_id, order_id=order_id, subtotal_cents=10_000, currency="USD"
        )


# --- create, read, update, delete ----------------------------------------------------------------
def test_creating_a_percent_voucher_answers_every_field(client: FlaskClient, boss: Account) -> None:
    body = {
        **PERCENT,
        "description": "Summer sale",
        "min_subtotal_cents": 5000,
        "usage_limit": 100,
        "per_customer_limit": 1,
        "starts_at": "2026-06-01T02:00:00+02:00",
        "ends_at": "2026-09-01T00:00:00Z",
        "is_active": False,
    }

    created = _create(client, boss, body)

    assert isinstance(created.pop("id"), int)
    assert created.pop("created_at").endswith("Z")
    assert created.pop("updated_at").endswith("Z")
    assert created == {
        "code": "SUMMER10",
        "description": "Summer sale",
        "kind": "percent",
        "percent_off": 10,
        "amount_off_cents": None,
        "currency": None,
        "min_subtotal_cents": 5000,
        "usage_limit": 100,
        "per_customer_limit": 1,
        "used_count": 0,
        "starts_at": "2026-06-01T00:00:00Z",
        "ends_at": "2026-09-01T00:00:00Z",
        "is_active": False,
    }


def test_creating_a_fixed_voucher_with_defaults(client: FlaskClient, boss: Account) -> None:
    created = _create(client, boss, FIXED)

    assert {k: created[k] for k in ("code", "kind", "percent_off", "amount_off_cents", "currency")} == {
        "code": "FIVE-OFF",
        "kind": "fixed",
        "percent_off": None,
        "amount_off_cents": 500,
        "currency": "EUR",
    }
    assert created["description"] == ""
    assert created["min_subtotal_cents"] == 0
    assert (created["usage_limit"], created["per_customer_limit"]) == (None, None)
    assert (created["starts_at"], created["ends_at"], created["is_active"]) == (None, None, True)


def test_get_update_and_delete_a_voucher(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session]
) -> None:
    created = _create(client, boss, PERCENT)
    url = f"{VOUCHERS}/{created['id']}"

    assert client.get(url, headers=boss.headers).json == created

    patched = client.patch(url, json={"percent_off": 25, "usage_limit": 3}, headers=boss.headers)
    assert patched.status_code == 200, patched.json
    assert (patched.json["percent_off"], patched.json["usage_limit"]) == (25, 3)
    put = client.put(url, json={"usage_limit": None, "code": "Autumn-25"}, headers=boss.headers)
    assert put.status_code == 200, put.json
    assert (put.json["code"], put.json["usage_limit"], put.json["percent_off"]) == ("AUTUMN-25", None, 25)
    assert client.get(url, headers=boss.headers).json == put.json

    response = client.delete(url, headers=boss.headers)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert _vouchers(sessions) == []
    assert_problem(client.get(url, headers=boss.headers), 404, "voucher_not_found")


def test_changing_the_kind_replaces_the_value_fields(client: FlaskClient, boss: Account) -> None:
    url = f"{VOUCHERS}/{_create(client, boss, PERCENT)['id']}"

    response = client.patch(
        url, json={"kind": "fixed", "amount_off_cents": 750, "currency": "USD"}, headers=boss.headers
    )
    assert response.status_code == 200, response.json
    assert (response.json["percent_off"], response.json["amount_off_cents"], response.json["currency"]) == (
        None,
        750,
        "USD",
    )

    back = client.patch(url, json={"kind": "percent", "percent_off": 5}, headers=boss.headers).json
    assert (back["percent_off"], back["amount_off_cents"], back["currency"]) == (5, None, None)


@pytest.mark.parametrize(
    ("stored", "change"),
    [
        (PERCENT, {"kind": "fixed"}),  # a fixed voucher needs an amount and a currency
        (PERCENT, {"kind": "fixed", "amount_off_cents": 100}),  # ... and a currency
        (PERCENT, {"amount_off_cents": 100, "currency": "USD"}),  # the kind stays percent
        (PERCENT, {"currency": "USD"}),  # a percent voucher has no currency
        (PERCENT, {"percent_off": None}),
        (FIXED, {"percent_off": 10}),
        (PERCENT, {"code": None}),
        (PERCENT, {"is_active": None}),
        ({**PERCENT, "starts_at": "2026-06-01T00:00:00Z"}, {"ends_at": "2026-05-31T23:59:59Z"}),
        ({**PERCENT, "ends_at": "2026-06-01T00:00:00Z"}, {"starts_at": "2026-06-01T00:00:00Z"}),
    ],
)
def test_an_update_that_would_make_an_invalid_voucher_is_refused(
    client: FlaskClient,
    boss: Account,
    sessions: sessionmaker[Session],
    stored: dict[str, Any],
    change: dict[str, Any],
) -> None:
    url = f"{VOUCHERS}/{_create(client, boss, stored)['id']}"
    before = _vouchers(sessions)

    assert_problem(client.patch(url, json=change, headers=boss.headers), 422, "validation_error")

    assert _vouchers(sessions) == before


# --- roles ---------------------------------------------------------------------------------------
OPERATIONS = [
    ("GET", ""),
    ("POST", ""),
    ("GET", "/{id}"),
    ("PATCH", "/{id}"),
    ("PUT", "/{id}"),
    ("DELETE", "/{id}"),
]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
@pytest.mark.parametrize(
    ("role", "status", "code"), [("anonymous", 401, "unauthorized"), ("customer", 403, "admin_required")]
)
def test_only_admins_may_use_vouchers(
    client: FlaskClient,
    boss: Account,
    sessions: sessionmaker[Session],
    method: str,
    path: str,
    role: str,
    status: int,
    code: str,
) -> None:
    voucher = _create(client, boss, PERCENT)
    headers = customer(client).headers if role == "customer" else {}
    before = _vouchers(sessions)

    response = client.open(
        VOUCHERS + path.format(id=voucher["id"]),
        method=method,
        json={**PERCENT, "code": "OTHER"} if method == "POST" else {"percent_off": 50},
        headers=headers,
    )

    assert_problem(response, status, code)
    assert _vouchers(sessions) == before


# --- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PERCENT, "percent_off": 0}, "percent_off"),
        ({**PERCENT, "percent_off": 101}, "percent_off"),
        ({**PERCENT, "percent_off": True}, "percent_off"),
        ({**PERCENT, "percent_off": "10"}, "percent_off"),
        ({**PERCENT, "percent_off": 10.0}, "percent_off"),
        ({**PERCENT, "percent_off": 1.5}, "percent_off"),
        ({**PERCENT, "percent_off": None}, ""),
        ({**FIXED, "amount_off_cents": 0}, "amount_off_cents"),
        ({**FIXED, "amount_off_cents": "500"}, "amount_off_cents"),
        ({k: v for k, v in FIXED.items() if k != "amount_off_cents"}, ""),
        ({k: v for k, v in FIXED.items() if k != "currency"}, ""),
        ({**FIXED, "percent_off": 10}, ""),
        ({**PERCENT, "amount_off_cents": 500}, ""),
        ({**PERCENT, "currency": "USD"}, ""),
        ({**FIXED, "currency": "EURO"}, "currency"),
        ({**FIXED, "currency": "XYZ"}, "currency"),
        ({**PERCENT, "kind": "bogo"}, "kind"),
        ({**PERCENT, "code": "AB"}, "code"),
        ({**PERCENT, "code": "A" * 41}, "code"),
        ({**PERCENT, "code": "SUMMER 10"}, "code"),
        ({**PERCENT, "code": "ÉTÉ10"}, "code"),
        ({**PERCENT, "description": "x" * 201}, "description"),
        ({**PERCENT, "min_subtotal_cents": -1}, "min_subtotal_cents"),
        ({**PERCENT, "min_subtotal_cents": True}, "min_subtotal_cents"),
        ({**PERCENT, "usage_limit": 0}, "usage_limit"),
        ({**PERCENT, "usage_limit": 2**31}, "usage_limit"),
        ({**PERCENT, "per_customer_limit": 0}, "per_customer_limit"),
        ({**PERCENT, "per_customer_limit": "1"}, "per_customer_limit"),
        ({**PERCENT, "is_active": "yes"}, "is_active"),
        ({**PERCENT, "starts_at": "2026-06-01T00:00:00"}, "starts_at"),  # no offset
        ({**PERCENT, "starts_at": "2026-06-01"}, "starts_at"),
        ({**PERCENT, "starts_at": 1780000000}, "starts_at"),
        ({**PERCENT, "starts_at": "1780000000"}, "starts_at"),
        ({**PERCENT, "ends_at": "0001-01-01T00:00:00+01:00"}, "ends_at"),
        ({**PERCENT, "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-01T00:00:00Z"}, ""),
        ({**PERCENT, "starts_at": "2026-06-01T00:00:00Z", "ends_at": "2026-06-01T01:59:00+02:00"}, ""),
        ({**PERCENT, "used_count": 0}, "used_count"),
        ({**PERCENT, "id": 7}, "id"),
        ({"kind": "percent", "percent_off": 10}, "code"),
    ],
)
def test_bad_vouchers_are_refused_and_nothing_is_written(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session], body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(client.post(VOUCHERS, json=body, headers=boss.headers), 422, "validation_error")

    assert field in error_fields(problem)
    assert _vouchers(sessions) == []


@pytest.mark.parametrize(
    "change",
    [{"percent_off": True}, {"percent_off": 0}, {"usage_limit": "5"}, {"used_count": 5}, {"bogus": 1}],
)
def test_bad_updates_are_refused_and_change_nothing(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session], change: dict[str, Any]
) -> None:
    url = f"{VOUCHERS}/{_create(client, boss, PERCENT)['id']}"
    before = _vouchers(sessions)

    assert_problem(client.patch(url, json=change, headers=boss.headers), 422, "validation_error")

    assert _vouchers(sessions) == before


# --- conflicts and unknown ids -------------------------------------------------------------------
def test_a_code_is_unique_in_any_letter_case(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session]
) -> None:
    _create(client, boss, PERCENT)
    other = _create(client, boss, FIXED)
    before = _vouchers(sessions)

    duplicate = client.post(VOUCHERS, json={**FIXED, "code": "Summer10"}, headers=boss.headers)
    renamed = client.patch(f"{VOUCHERS}/{other['id']}", json={"code": "SUMMER10"}, headers=boss.headers)

    assert_problem(duplicate, 409, "voucher_code_taken")
    assert_problem(renamed, 409, "voucher_code_taken")
    assert _vouchers(sessions) == before


@pytest.mark.parametrize("voucher_id", [999_999, 2**31, 2**40])
@pytest.mark.parametrize("method", ["GET", "PATCH", "PUT", "DELETE"])
def test_unknown_vouchers_are_not_found(
    client: FlaskClient, boss: Account, method: str, voucher_id: int
) -> None:
    response = client.open(
        f"{VOUCHERS}/{voucher_id}", method=method, json={"percent_off": 5}, headers=boss.headers
    )
    assert_problem(response, 404, "voucher_not_found")


def test_a_redeemed_voucher_is_not_deleted_but_can_be_deactivated(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session]
) -> None:
    voucher = _create(client, boss, PERCENT)
    _redeem(sessions, "SUMMER10", customer(client).id)
    url = f"{VOUCHERS}/{voucher['id']}"
    before = _vouchers(sessions)

    assert_problem(client.delete(url, headers=boss.headers), 409, "voucher_in_use")

    assert _vouchers(sessions) == before
    deactivated = client.patch(url, json={"is_active": False}, headers=boss.headers)
    assert (deactivated.json["is_active"], deactivated.json["used_count"]) == (False, 1)


def test_the_usage_limit_cannot_go_below_the_uses_so_far(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session]
) -> None:
    url = f"{VOUCHERS}/{_create(client, boss, PERCENT)['id']}"
    for _ in range(2):
        _redeem(sessions, "SUMMER10", customer(client).id)

    problem = assert_problem(
        client.patch(url, json={"usage_limit": 1}, headers=boss.headers), 422, "validation_error"
    )

    assert error_fields(problem) == {"usage_limit"}
    assert client.get(url, headers=boss.headers).json["usage_limit"] is None
    assert client.patch(url, json={"usage_limit": 2}, headers=boss.headers).json["usage_limit"] == 2


# --- the list ------------------------------------------------------------------------------------
def test_the_list_pages_newest_first_and_filters_on_active(
    client: FlaskClient, boss: Account, sessions: sessionmaker[Session]
) -> None:
    ids = [
        _create(client, boss, {**PERCENT, "code": f"CODE-{i}", "is_active": i % 2 == 0})["id"]
        for i in range(5)
    ]

    def walk(query: str) -> list[int]:
        seen: list[int] = []
        cursor = None
        while True:
            params = f"?limit=2{query}" + (f"&cursor={cursor}" if cursor else "")
            page = client.get(VOUCHERS + params, headers=boss.headers)
            assert page.status_code == 200, page.json
            assert set(page.json) == {"items", "next_cursor"}
            assert len(page.json["items"]) <= 2
            seen += [item["id"] for item in page.json["items"]]
            cursor = page.json["next_cursor"]
            if cursor is None:
                return seen

    assert walk("") == ids[::-1]
    assert walk("&active=true") == [ids[4], ids[2], ids[0]]
    assert walk("&active=false") == [ids[3], ids[1]]
    first = client.get(VOUCHERS, headers=boss.headers).json
    assert first["items"][0] == client.get(f"{VOUCHERS}/{ids[4]}", headers=boss.headers).json


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=101",
        "?active=maybe",
        "?active=1",  # booleans are true or false, not pydantic's lax "1", "yes", "on"...
        "?active=yes",
        "?active=True",
        "?cursor=a&cursor=b",  # one value per parameter: which would win is a guess
        "?active=true&active=false",
        "?cursor=bogus",
        f"?cursor={make_cursor({'id': 'x'})}",
        f"?cursor={make_cursor({'id': 2**40})}",
        "?status=active",
    ],
)
def test_bad_list_queries_are_refused(client: FlaskClient, boss: Account, query: str) -> None:
    assert client.get(VOUCHERS + query, headers=boss.headers).status_code == 422


def test_a_repeated_parameter_is_named_in_the_problem(client: FlaskClient, boss: Account) -> None:
    response = client.get(f"{VOUCHERS}?limit=5&cursor=a&cursor=b", headers=boss.headers)

    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"] == [{"field": "cursor", "message": "given more than once"}]


def test_an_empty_list(client: FlaskClient, boss: Account) -> None:
    assert client.get(VOUCHERS, headers=boss.headers).json == {"items": [], "next_cursor": None}
