"""GET /api/admin/users and PUT /api/admin/users/<id>/toggle-status: roles, pagination, search."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.factories import Account, admin, assert_problem, customer, error_fields, unique_email

USERS = "/api/admin/users"


def _headers(app: Flask, client: FlaskClient, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    account = admin(app, client) if role == "admin" else customer(client)
    return account.headers


def _is_active(sessions: sessionmaker[Session], user_id: int) -> bool:
    with sessions() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user.is_active


def _page(client: FlaskClient, boss: Account, **params: Any) -> dict[str, Any]:
    response = client.get(USERS, query_string=params, headers=boss.headers)
    assert response.status_code == 200, response.json
    assert set(response.json) == {"items", "next_cursor"}
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _cursor(position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("customer", 403), ("admin", 200)])
def test_list_users_role_matrix(app: Flask, client: FlaskClient, role: str, status: int) -> None:
    headers = _headers(app, client, role)

    response = client.get(USERS, headers=headers)

    assert response.status_code == status
    if status == 200:
        assert response.json["items"]
    else:
        assert_problem(response, status, {401: "unauthorized", 403: "admin_required"}[status])


@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("customer", 403), ("admin", 200)])
def test_toggle_status_role_matrix(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session], role: str, status: int
) -> None:
    target = customer(client)
    headers = _headers(app, client, role)

    response = client.put(f"{USERS}/{target.id}/toggle-status", headers=headers)

    assert response.status_code == status
    assert _is_active(sessions, target.id) is (status != 200)
    if status != 200:
        assert_problem(response, status)
        assert client.get("/api/auth/me", headers=target.headers).status_code == 200


def test_list_items_are_users(app: Flask, client: FlaskClient) -> None:
    target = customer(client, full_name="Listed Person")
    boss = admin(app, client)

    items = _page(client, boss)["items"]

    assert [item["id"] for item in items] == [boss.id, target.id]  # newest first
    assert items[1] == {
        "id": target.id,
        "email": target.email,
        "full_name": "Listed Person",
        "role": "customer",
        "is_active": True,
        "created_at": items[1]["created_at"],
    }
    assert items[0]["role"] == "admin"
    assert all("password" not in key for item in items for key in item)


def test_paging_with_limit_2_visits_every_user_once(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    for _ in range(4):
        customer(client)
    boss = admin(app, client)
    gone = customer(client)
    client.delete("/api/auth/me", headers=gone.headers)
    with sessions() as session:
        live_ids = list(
            session.scalars(select(User.id).where(User.deleted_at.is_(None)).order_by(User.id.desc()))
        )
    assert len(live_ids) == 5

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = _page(client, boss, **params)
        pages += 1
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert isinstance(cursor, str)
        assert str(seen[-1]) not in cursor  # opaque, not a bare id

    assert pages == 3
    assert seen == live_ids  # no gaps, no duplicates, newest first, deleted user left out


def test_an_exact_last_page_has_no_next_cursor(app: Flask, client: FlaskClient) -> None:
    customer(client)
    boss = admin(app, client)

    page = _page(client, boss, limit=2)

    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
def test_limit_out_of_range_is_422(app: Flask, client: FlaskClient, limit: str) -> None:
    boss = admin(app, client)

    response = client.get(USERS, query_string={"limit": limit}, headers=boss.headers)

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"limit"}


@pytest.mark.parametrize("limit", ["1", "100"])
def test_limit_bounds_are_accepted(app: Flask, client: FlaskClient, limit: str) -> None:
    boss = admin(app, client)

    assert len(_page(client, boss, limit=limit)["items"]) == 1


def test_q_filters_by_email_substring(app: Flask, client: FlaskClient) -> None:
    wanted = [
        customer(client, email=unique_email("findme")),
        customer(client, email=unique_email("xfindmex")),
    ]
    customer(client, email=unique_email("other"))
    boss = admin(app, client)

    ids = [item["id"] for item in _page(client, boss, q="findme")["items"]]
    upper_ids = [item["id"] for item in _page(client, boss, q="FINDME")["items"]]

    assert ids == upper_ids == [wanted[1].id, wanted[0].id]
    assert _page(client, boss, q="%")["items"] == []  # a LIKE wildcard is a plain character here
    assert _page(client, boss, q="nobody-matches-this")["items"] == []


def test_q_also_matches_the_name(app: Flask, client: FlaskClient) -> None:
    named = customer(client, full_name="Zelda Quest")
    customer(client, full_name="Someone Else")
    boss = admin(app, client)

    assert [item["id"] for item in _page(client, boss, q="zelda")["items"]] == [named.id]


def test_q_and_cursor_page_through_matches_only(app: Flask, client: FlaskClient) -> None:
    wanted = [customer(client, email=unique_email("pageme")).id for _ in range(3)]
    customer(client)
    boss = admin(app, client)

    first = _page(client, boss, q="pageme", limit=2)
    second = _page(client, boss, q="pageme", limit=2, cursor=first["next_cursor"])

    assert [i["id"] for i in first["items"] + second["items"]] == wanted[::-1]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("not a cursor!", id="garbage"),
        pytest.param(_cursor({"offset": 3}), id="wrong-key"),
        pytest.param(_cursor([1]), id="not-an-object"),
        pytest.param(_cursor({"id": "abc"}), id="id-a-string"),
        pytest.param(_cursor({"id": True}), id="id-a-bool"),
        pytest.param(_cursor({"id": 1.5}), id="id-a-float"),
        pytest.param(_cursor({"id": 10**20}), id="id-too-large"),
        pytest.param(base64.urlsafe_b64encode(b"\xff\xfe").decode(), id="not-utf8"),
    ],
)
def test_a_tampered_cursor_is_422(app: Flask, client: FlaskClient, cursor: str) -> None:
    boss = admin(app, client)

    response = client.get(USERS, query_string={"cursor": cursor}, headers=boss.headers)

    assert_problem(response, 422, "invalid_cursor")


def test_toggle_flips_and_returns_the_user(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    target = customer(client)
    boss = admin(app, client)

    off = client.put(f"{USERS}/{target.id}/toggle-status", headers=boss.headers)
    on = client.put(f"{USERS}/{target.id}/toggle-status/", headers=boss.headers)

    assert off.status_code == on.status_code == 200
    assert set(off.json) == {"id", "email", "full_name", "role", "is_active", "created_at"}
    assert (off.json["id"], off.json["is_active"], on.json["is_active"]) == (target.id, False, True)
    assert _is_active(sessions, target.id) is True


def test_an_admin_cannot_toggle_themselves(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss = admin(app, client)

    response = client.put(f"{USERS}/{boss.id}/toggle-status", headers=boss.headers)

    assert_problem(response, 409, "cannot_deactivate_self")
    assert _is_active(sessions, boss.id) is True
    assert client.get(USERS, headers=boss.headers).status_code == 200


@pytest.mark.parametrize("user_id", ["999999", "0", "99999999999999999999"])
def test_toggle_of_an_unknown_user_is_404(app: Flask, client: FlaskClient, user_id: str) -> None:
    boss = admin(app, client)

    response = client.put(f"{USERS}/{user_id}/toggle-status", headers=boss.headers)

    assert_problem(response, 404)


def test_toggle_of_a_deleted_user_is_404(app: Flask, client: FlaskClient) -> None:
    gone = customer(client)
    client.delete("/api/auth/me", headers=gone.headers)
    boss = admin(app, client)

    response = client.put(f"{USERS}/{gone.id}/toggle-status", headers=boss.headers)

    assert_problem(response, 404, "user_not_found")
    assert (
        client.post("/api/auth/login", json={"email": gone.email, "password": gone.password}).status_code
        == 401
    )
