"""Token lifecycle: refresh and rotation, reuse detection, logout, wrong and expired tokens, deactivation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import (
    Account,
    admin,
    assert_problem,
    bearer,
    customer,
    login,
    signed_token,
    toggle_status,
)


def _refresh(client: FlaskClient, token: str, via: str = "header") -> TestResponse:
    if via == "header":
        return client.post("/api/auth/refresh", headers=bearer(token))
    return client.post("/api/auth/refresh", json={"refresh_token": token})


def _me_status(client: FlaskClient, access_token: str) -> int:
    return client.get("/api/auth/me", headers=bearer(access_token)).status_code


def _assert_unauthorized(response: TestResponse) -> None:
    assert_problem(response, 401)
    assert response.json["code"] in {"unauthorized", "invalid_token"}


@pytest.mark.parametrize("via", ["header", "body"])
def test_refresh_returns_a_new_working_pair(client: FlaskClient, via: str) -> None:
    account = customer(client)

    response = _refresh(client, account.refresh_token, via)

    assert response.status_code == 200
    body = response.json
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert body["refresh_token"] != account.refresh_token
    assert body["access_token"] != account.access_token
    assert client.get("/api/auth/me", headers=bearer(body["access_token"])).json["id"] == account.id
    assert _refresh(client, body["refresh_token"], via).status_code == 200


@pytest.mark.parametrize("via", ["header", "body"])
def test_reusing_a_spent_refresh_token_revokes_the_whole_login(client: FlaskClient, via: str) -> None:
    account = customer(client)
    other_login = login(client, account.email)
    rotated = _refresh(client, account.refresh_token, via).json

    reuse = _refresh(client, account.refresh_token, via)

    _assert_unauthorized(reuse)
    _assert_unauthorized(_refresh(client, rotated["refresh_token"], via))
    assert _me_status(client, rotated["access_token"]) == 401
    assert _me_status(client, account.access_token) == 401
    # Only that login (family) is ended: another login of the same user keeps working.
    assert _me_status(client, other_login["access_token"]) == 200
    assert _refresh(client, other_login["refresh_token"], via).status_code == 200


@pytest.mark.parametrize("via", ["header", "body"])
def test_an_access_token_is_not_a_refresh_token(client: FlaskClient, via: str) -> None:
    account = customer(client)

    response = _refresh(client, account.access_token, via)

    _assert_unauthorized(response)
    # Nothing was spent or revoked: the real refresh token and the access token still work.
    assert _me_status(client, account.access_token) == 200
    assert _refresh(client, account.refresh_token, via).status_code == 200


def test_a_refresh_token_is_not_an_access_token(client: FlaskClient) -> None:
    account = customer(client)

    _assert_unauthorized(client.get("/api/auth/me", headers=bearer(account.refresh_token)))

    assert _refresh(client, account.refresh_token).status_code == 200


def _expired_tokens(app: Flask, account: Account) -> tuple[str, str]:
    expired = timedelta(seconds=-1)
    access = signed_token(app, account.id, expires_in=expired)
    refresh = signed_token(app, account.id, kind="refresh", expires_in=expired)
    return access, refresh


def _foreign_token(app: Flask, account: Account) -> str:
    return signed_token(app, account.id, "admin", secret="another-secret-that-is-long-enough-0123456789")


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer not-a-jwt", id="garbage"),
        pytest.param("Bearer ", id="empty"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
        pytest.param("Bearer a.b.c", id="three-garbage-segments"),
    ],
)
def test_me_refuses_missing_or_garbage_tokens(client: FlaskClient, authorization: str | None) -> None:
    headers: dict[str, Any] = {"Authorization": authorization} if authorization else {}

    _assert_unauthorized(client.get("/api/auth/me", headers=headers))


def test_expired_and_foreign_tokens_are_401(app: Flask, client: FlaskClient) -> None:
    account = customer(client)
    expired_access, expired_refresh = _expired_tokens(app, account)

    _assert_unauthorized(client.get("/api/auth/me", headers=bearer(expired_access)))
    _assert_unauthorized(_refresh(client, expired_refresh, "header"))
    _assert_unauthorized(_refresh(client, expired_refresh, "body"))
    _assert_unauthorized(_refresh(client, "not-a-jwt", "body"))
    _assert_unauthorized(client.get("/api/auth/me", headers=bearer(_foreign_token(app, account))))
    _assert_unauthorized(client.get("/api/admin/users", headers=bearer(_foreign_token(app, account))))


def test_refresh_without_any_token_is_401(client: FlaskClient) -> None:
    _assert_unauthorized(client.post("/api/auth/refresh"))
    _assert_unauthorized(client.post("/api/auth/refresh", json={}))


def test_logout_revokes_this_login_only(client: FlaskClient) -> None:
    account = customer(client)
    other = login(client, account.email)

    response = client.post("/api/auth/logout", headers=account.headers)

    assert response.status_code == 200
    assert response.json == {"detail": "Logged out"}
    assert _me_status(client, account.access_token) == 401
    _assert_unauthorized(_refresh(client, account.refresh_token, "header"))
    _assert_unauthorized(_refresh(client, account.refresh_token, "body"))
    _assert_unauthorized(client.post("/api/auth/logout", headers=account.headers))
    assert _me_status(client, other["access_token"]) == 200
    assert _refresh(client, other["refresh_token"]).status_code == 200


def test_logout_needs_an_access_token(client: FlaskClient) -> None:
    account = customer(client)

    _assert_unauthorized(client.post("/api/auth/logout"))
    _assert_unauthorized(client.post("/api/auth/logout", headers=bearer(account.refresh_token)))

    assert _me_status(client, account.access_token) == 200
    assert _refresh(client, account.refresh_token).status_code == 200


def test_deactivation_kills_existing_tokens_at_once(app: Flask, client: FlaskClient) -> None:
    account = customer(client)
    boss = admin(app, client)

    body = toggle_status(client, boss, account.id)

    assert body["id"] == account.id
    assert body["is_active"] is False
    assert _me_status(client, account.access_token) == 401
    _assert_unauthorized(_refresh(client, account.refresh_token, "header"))
    _assert_unauthorized(_refresh(client, account.refresh_token, "body"))
    response = client.post("/api/auth/login", json={"email": account.email, "password": account.password})
    assert_problem(response, 401, "invalid_credentials")
    assert _me_status(client, boss.access_token) == 200


def test_reactivation_allows_login_but_old_tokens_stay_dead(app: Flask, client: FlaskClient) -> None:
    account = customer(client)
    boss = admin(app, client)
    toggle_status(client, boss, account.id)

    body = toggle_status(client, boss, account.id)
    fresh = login(client, account.email, account.password)

    assert body["is_active"] is True
    assert _me_status(client, fresh["access_token"]) == 200
    assert _me_status(client, account.access_token) == 401
    _assert_unauthorized(_refresh(client, account.refresh_token))
    rotated = _refresh(client, fresh["refresh_token"])
    assert rotated.status_code == 200
    assert _me_status(client, rotated.json["access_token"]) == 200
