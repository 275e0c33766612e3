"""POST /api/auth/register and /api/auth/login: body shapes, normalisation, policy, strictness."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.factories import (
    PASSWORD,
    admin,
    assert_problem,
    bearer,
    customer,
    error_fields,
    login,
    toggle_status,
    unique_email,
)

USER_KEYS = {"id", "email", "full_name", "role", "is_active", "created_at"}


def _user_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(User)) or 0


def _emails(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(session.scalars(select(User.email).order_by(User.id)))


# --- register ---------------------------------------------------------------------------------
def test_register_answers_201_with_the_new_customer(client: FlaskClient) -> None:
    email = unique_email()

    response = client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Ann Example"}
    )

    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == USER_KEYS
    assert isinstance(body["id"], int)
    assert body["email"] == email
    assert body["full_name"] == "Ann Example"
    assert body["role"] == "customer"
    assert body["is_active"] is True
    assert body["created_at"].endswith("Z")
    assert PASSWORD not in response.get_data(as_text=True)


def test_register_without_full_name_stores_none(client: FlaskClient) -> None:
    response = client.post("/api/auth/register", json={"email": unique_email(), "password": PASSWORD})

    assert response.status_code == 201
    assert response.json["full_name"] is None


def test_register_normalises_the_email(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    response = client.post("/api/auth/register", json={"email": "  Bob@Example.COM ", "password": PASSWORD})

    assert response.status_code == 201
    assert response.json["email"] == "bob@example.com"
    assert _emails(sessions) == ["bob@example.com"]


def test_register_duplicate_email_in_other_case_is_409(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    customer(client, email="carol@example.com")

    response = client.post("/api/auth/register", json={"email": "CAROL@example.com", "password": PASSWORD})

    assert_problem(response, 409, "email_taken")
    assert _emails(sessions) == ["carol@example.com"]


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("Abcde12", id="seven-characters"),
        pytest.param("abcdefghij", id="no-digit"),
        pytest.param("1234567890", id="no-letter"),
        pytest.param("________1", id="underscore-is-not-a-letter"),
        pytest.param("", id="empty"),
    ],
)
def test_register_refuses_a_password_against_the_policy(
    client: FlaskClient, sessions: sessionmaker[Session], password: str
) -> None:
    response = client.post("/api/auth/register", json={"email": unique_email(), "password": password})

    body = assert_problem(response, 422, "validation_error")
    assert error_fields(body) == {"password"}
    assert all(entry["message"] for entry in body["errors"])
    assert _user_count(sessions) == 0


def test_register_refuses_unknown_fields_and_creates_no_user(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    email = unique_email()

    response = client.post("/api/auth/register", json={"email": email, "password": PASSWORD, "role": "admin"})

    body = assert_problem(response, 422, "validation_error")
    assert error_fields(body) == {"role"}
    assert _user_count(sessions) == 0
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        pytest.param({"email": 123, "password": PASSWORD}, "email", id="email-not-a-string"),
        pytest.param({"email": ["a@example.com"], "password": PASSWORD}, "email", id="email-a-list"),
        pytest.param({"email": "not-an-email", "password": PASSWORD}, "email", id="email-invalid"),
        pytest.param({"email": "a" * 310 + "@example.com", "password": PASSWORD}, "email", id="email-long"),
        pytest.param({"email": "x@example.com", "password": 12345678}, "password", id="password-number"),
        pytest.param({"email": "x@example.com", "password": "a1" * 65}, "password", id="password-long"),
        pytest.param({"email": "x@example.com", "password": None}, "password", id="password-null"),
        pytest.param({"password": PASSWORD}, "email", id="email-missing"),
        pytest.param(
            {"email": "x@example.com", "password": PASSWORD, "full_name": "n" * 201},
            "full_name",
            id="name-long",
        ),
        pytest.param(
            {"email": "x@example.com", "password": PASSWORD, "full_name": 7}, "full_name", id="name-int"
        ),
    ],
)
def test_register_refuses_wrong_types_and_lengths(
    client: FlaskClient, sessions: sessionmaker[Session], payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/auth/register", json=payload)

    body = assert_problem(response, 422, "validation_error")
    assert field in error_fields(body)
    assert _user_count(sessions) == 0


# --- login ------------------------------------------------------------------------------------
def test_login_answers_a_bearer_token_pair(client: FlaskClient) -> None:
    email = unique_email()
    client.post("/api/auth/register", json={"email": email, "password": PASSWORD})

    response = client.post("/api/auth/login", json={"email": email, "password": PASSWORD})

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] != body["refresh_token"]
    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json["email"] == email


def test_login_is_case_insensitive_on_the_email(client: FlaskClient) -> None:
    account = customer(client, email="dave@example.com")

    tokens = login(client, "  DAVE@Example.COM ", account.password)

    me = client.get("/api/auth/me", headers=bearer(tokens["access_token"]))
    assert me.json["id"] == account.id


def test_failed_logins_are_indistinguishable(app: Flask, client: FlaskClient) -> None:
    known = customer(client)
    deactivated = customer(client)
    toggle_status(client, admin(app, client), deactivated.id)

    wrong_password = client.post("/api/auth/login", json={"email": known.email, "password": "Wrong-pass1"})
    unknown_email = client.post("/api/auth/login", json={"email": unique_email(), "password": PASSWORD})
    inactive = client.post("/api/auth/login", json={"email": deactivated.email, "password": PASSWORD})

    bodies = [
        assert_problem(r, 401, "invalid_credentials") for r in (wrong_password, unknown_email, inactive)
    ]
    assert bodies[0] == bodies[1] == bodies[2]
    assert {b["detail"] for b in bodies} == {"Invalid email or password"}
    assert {r.headers.get("WWW-Authenticate") for r in (wrong_password, unknown_email, inactive)} == {None}


def test_login_refuses_unknown_fields(client: FlaskClient) -> None:
    account = customer(client)

    response = client.post(
        "/api/auth/login", json={"email": account.email, "password": PASSWORD, "remember": True}
    )

    body = assert_problem(response, 422, "validation_error")
    assert error_fields(body) == {"remember"}


def test_login_refuses_a_non_string_password(client: FlaskClient) -> None:
    account = customer(client)

    response = client.post("/api/auth/login", json={"email": account.email, "password": ["x"]})

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"password"}


def test_trailing_slashes_and_charset_parameters_are_accepted(client: FlaskClient) -> None:
    email = unique_email()

    registered = client.post(
        "/api/auth/register/",
        data=json.dumps({"email": email, "password": PASSWORD}),
        content_type="application/json; charset=utf-8",
    )
    logged_in = client.post("/api/auth/login/", json={"email": email, "password": PASSWORD})

    assert registered.status_code == 201
    assert logged_in.status_code == 200
