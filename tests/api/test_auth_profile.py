"""The own profile: GET/PUT/PATCH/DELETE /api/auth/me and POST /api/auth/change-password."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import Address, User
from tests.factories import (
    PASSWORD,
    address_payload,
    assert_problem,
    bearer,
    customer,
    error_fields,
    login,
    unique_email,
)

NEW_PASSWORD = "N3w-password"


def _login_status(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/api/auth/login", json={"email": email, "password": password}).status_code


def test_me_returns_the_profile(client: FlaskClient) -> None:
    account = customer(client, full_name="Erin Example")

    response = client.get("/api/auth/me", headers=account.headers)

    assert response.status_code == 200
    body = response.json
    assert list(body) == ["id", "email", "full_name", "role", "is_active", "created_at"]
    assert body["id"] == account.id
    assert body["email"] == account.email
    assert body["full_name"] == "Erin Example"
    assert body["role"] == "customer"
    assert body["is_active"] is True
    assert body["created_at"].endswith("Z")
    assert body["created_at"][:4].isdigit()
    assert body["created_at"][10] == "T"


def test_me_needs_a_token(client: FlaskClient) -> None:
    assert_problem(client.get("/api/auth/me"), 401, "unauthorized")


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_changes_name_and_normalised_email(client: FlaskClient, method: str) -> None:
    account = customer(client, full_name="Old Name")
    new_email = unique_email("renamed")

    response = getattr(client, method)(
        "/api/auth/me",
        json={"full_name": "New Name", "email": f"  {new_email.upper()} ", "current_password": PASSWORD},
        headers=account.headers,
    )

    assert response.status_code == 200
    assert response.json["full_name"] == "New Name"
    assert response.json["email"] == new_email
    assert client.get("/api/auth/me", headers=account.headers).json["email"] == new_email
    assert _login_status(client, new_email, PASSWORD) == 200
    assert _login_status(client, account.email, PASSWORD) == 401


def test_patch_with_only_the_name_keeps_the_email(client: FlaskClient) -> None:
    account = customer(client, full_name="Old Name")

    response = client.patch("/api/auth/me", json={"full_name": "Only Name"}, headers=account.headers)

    assert response.status_code == 200
    assert (response.json["full_name"], response.json["email"]) == ("Only Name", account.email)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_to_a_taken_email_is_409_and_changes_nothing(client: FlaskClient, method: str) -> None:
    taken = customer(client)
    account = customer(client, full_name="Keep Me")

    response = getattr(client, method)(
        "/api/auth/me",
        json={"full_name": "Changed", "email": taken.email.upper(), "current_password": PASSWORD},
        headers=account.headers,
    )

    assert_problem(response, 409, "email_taken")
    me = client.get("/api/auth/me", headers=account.headers).json
    assert (me["email"], me["full_name"]) == (account.email, "Keep Me")
    assert client.get("/api/auth/me", headers=taken.headers).json["email"] == taken.email


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"full_name": "Changed", "role": "admin"}, id="role"),
        pytest.param({"full_name": "Changed", "is_active": False}, id="is_active"),
        pytest.param({"full_name": "Changed", "password": NEW_PASSWORD}, id="password"),
    ],
)
def test_update_refuses_unknown_fields_and_changes_nothing(
    client: FlaskClient, payload: dict[str, object]
) -> None:
    account = customer(client, full_name="Keep Me")

    response = client.patch("/api/auth/me", json=payload, headers=account.headers)

    body = assert_problem(response, 422, "validation_error")
    assert error_fields(body) == set(payload) - {"full_name"}
    me = client.get("/api/auth/me", headers=account.headers).json
    assert (me["full_name"], me["role"], me["is_active"]) == ("Keep Me", "customer", True)
    assert _login_status(client, account.email, PASSWORD) == 200


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"email": "not-an-email"}, "email", id="bad-email"),
        pytest.param({"full_name": ""}, "full_name", id="empty-name"),
        pytest.param({"full_name": "n" * 201}, "full_name", id="long-name"),
        pytest.param({"full_name": 5}, "full_name", id="int-name"),
    ],
)
def test_update_refuses_invalid_values(client: FlaskClient, payload: dict[str, object], field: str) -> None:
    account = customer(client, full_name="Keep Me")

    response = client.patch("/api/auth/me", json=payload, headers=account.headers)

    assert error_fields(assert_problem(response, 422, "validation_error")) == {field}
    me = client.get("/api/auth/me", headers=account.headers).json
    assert (me["email"], me["full_name"]) == (account.email, "Keep Me")


def test_delete_me_erases_the_account(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    account = customer(client, full_name="Gone Soon")
    second_login = login(client, account.email)
    added = client.post("/api/auth/me/addresses", json=address_payload(), headers=account.headers)
    assert added.status_code == 201

    response = client.delete("/api/auth/me", headers=account.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert _login_status(client, account.email, PASSWORD) == 401
    assert_problem(client.get("/api/auth/me", headers=account.headers), 401)
    assert_problem(client.get("/api/auth/me", headers=bearer(second_login["access_token"])), 401)
    assert_problem(client.post("/api/auth/refresh", headers=bearer(account.refresh_token)), 401)
    with sessions() as session:
        row = session.get(User, account.id)
        assert row is not None
        assert account.email not in row.email
        assert account.email.split("@")[0] not in row.email
        assert row.full_name is None
        assert row.deleted_at is not None
        assert row.is_active is False
        assert session.scalar(select(func.count()).where(Address.user_id == account.id)) == 0


def test_a_deleted_email_can_be_registered_again(client: FlaskClient) -> None:
    account = customer(client)
    client.delete("/api/auth/me", headers=account.headers)

    newcomer = customer(client, email=account.email, password=NEW_PASSWORD)

    assert newcomer.id != account.id
    assert client.get("/api/auth/me", headers=newcomer.headers).json["email"] == account.email
    assert_problem(client.get("/api/auth/me", headers=account.headers), 401)


def test_change_password_with_a_wrong_current_password_changes_nothing(client: FlaskClient) -> None:
    account = customer(client)
    other = login(client, account.email)

    response = client.post(
        "/api/auth/change-password",
        json={"current_password": "Wrong-pass1", "new_password": NEW_PASSWORD},
        headers=account.headers,
    )

    body = assert_problem(response, 422, "wrong_password")
    assert error_fields(body) == {"current_password"}
    assert _login_status(client, account.email, PASSWORD) == 200
    assert _login_status(client, account.email, NEW_PASSWORD) == 401
    assert client.get("/api/auth/me", headers=bearer(other["access_token"])).status_code == 200


def test_change_password_logs_out_the_other_sessions_only(client: FlaskClient) -> None:
    account = customer(client)
    other = login(client, account.email)

    response = client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )

    assert response.status_code == 200
    assert set(response.json) == {"detail"}
    assert _login_status(client, account.email, NEW_PASSWORD) == 200
    assert _login_status(client, account.email, PASSWORD) == 401
    assert client.get("/api/auth/me", headers=account.headers).status_code == 200
    assert client.post("/api/auth/refresh", headers=bearer(account.refresh_token)).status_code == 200
    assert_problem(client.get("/api/auth/me", headers=bearer(other["access_token"])), 401)
    assert_problem(client.post("/api/auth/refresh", headers=bearer(other["refresh_token"])), 401)


@pytest.mark.parametrize("new_password", ["short1", "no-digits-here", "1234567890"])
def test_change_password_enforces_the_policy(client: FlaskClient, new_password: str) -> None:
    account = customer(client)

    response = client.post(
        "/api/auth/change-password",
        json={"current_password": PASSWORD, "new_password": new_password},
        headers=account.headers,
    )

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"new_password"}
    assert _login_status(client, account.email, PASSWORD) == 200
    assert _login_status(client, account.email, new_password) == 401


def test_change_password_needs_an_access_token(client: FlaskClient) -> None:
    account = customer(client)

    response = client.post(
        "/api/auth/change-password", json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert_problem(response, 401)
    assert _login_status(client, account.email, PASSWORD) == 200
