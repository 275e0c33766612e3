"""POST /api/auth/password-reset and /password-reset/confirm, with a real SMTP server as the inbox."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import PasswordResetToken
from shopwright.db import utcnow
from tests.conftest import Mailbox
from tests.factories import (
    PASSWORD,
    admin,
    assert_problem,
    bearer,
    customer,
    error_fields,
    toggle_status,
    unique_email,
)

NEW_PASSWORD = "Fr3sh-password"
ACCEPTED = {"detail": "If the email belongs to an account, a reset link is on its way"}


def _request_reset(client: FlaskClient, email: str) -> None:
    response = client.post("/api/auth/password-reset", json={"email": email})
    assert response.status_code == 202
    assert response.json == ACCEPTED


def _token_from(mailbox: Mailbox, email: str, index: int = -1) -> str:
    body = mailbox.to(email)[index].get_content()
    lines = body.splitlines()
    marker = next(i for i, line in enumerate(lines) if "Or use this token" in line)
    token: str = next(line.strip() for line in lines[marker + 1 :] if line.strip())
    return token


def _confirm(client: FlaskClient, token: str, new_password: str = NEW_PASSWORD) -> int:
    response = client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    return response.status_code


def _login_status(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/api/auth/login", json={"email": email, "password": password}).status_code


def test_reset_request_emails_exactly_one_token(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client, full_name="Fay Example")

    _request_reset(client, account.email.upper())

    messages = mailbox.to(account.email)
    assert len(messages) == 1
    assert len(mailbox.messages) == 1
    assert messages[0]["Subject"] == "Reset your Shopwright password"
    assert "Hello Fay Example," in messages[0].get_content()
    token = _token_from(mailbox, account.email)
    assert len(token) >= 32
    assert f"token={token}" in messages[0].get_content()
    # The request alone changes nothing.
    assert _login_status(client, account.email, PASSWORD) == 200


def test_unknown_email_gets_the_same_answer_and_no_email(client: FlaskClient, mailbox: Mailbox) -> None:
    customer(client)

    response = client.post("/api/auth/password-reset", json={"email": unique_email("nobody")})

    assert response.status_code == 202
    assert response.json == ACCEPTED
    assert mailbox.messages == []


def test_deactivated_account_gets_no_email(app: Flask, client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    toggle_status(client, admin(app, client), account.id)

    _request_reset(client, account.email)

    assert mailbox.messages == []


def test_confirm_sets_the_password_and_ends_old_sessions(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    _request_reset(client, account.email)

    response = client.post(
        "/api/auth/password-reset/confirm",
        json={"token": _token_from(mailbox, account.email), "new_password": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert set(response.json) == {"detail"}
    assert _login_status(client, account.email, PASSWORD) == 401
    fresh = client.post("/api/auth/login", json={"email": account.email, "password": NEW_PASSWORD})
    assert fresh.status_code == 200
    assert client.get("/api/auth/me", headers=bearer(fresh.json["access_token"])).status_code == 200
    assert_problem(client.get("/api/auth/me", headers=account.headers), 401)
    assert_problem(client.post("/api/auth/refresh", headers=bearer(account.refresh_token)), 401)
    assert client.post("/api/auth/refresh", headers=bearer(fresh.json["refresh_token"])).status_code == 200


def test_a_reset_token_works_once(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    _request_reset(client, account.email)
    token = _token_from(mailbox, account.email)
    assert _confirm(client, token) == 200

    response = client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "An0ther-password"}
    )

    assert_problem(response, 422, "invalid_reset_token")
    assert _login_status(client, account.email, "An0ther-password") == 401
    assert _login_status(client, account.email, NEW_PASSWORD) == 200


def test_an_expired_reset_token_is_refused(
    client: FlaskClient, mailbox: Mailbox, sessions: sessionmaker[Session]
) -> None:
    account = customer(client)
    _request_reset(client, account.email)
    token = _token_from(mailbox, account.email)
    with sessions() as session, session.begin():
        session.execute(
            update(PasswordResetToken)
            .where(PasswordResetToken.user_id == account.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )

    response = client.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )

    assert_problem(response, 422, "invalid_reset_token")
    assert _login_status(client, account.email, PASSWORD) == 200
    assert _login_status(client, account.email, NEW_PASSWORD) == 401
    assert client.get("/api/auth/me", headers=account.headers).status_code == 200


def test_unknown_token_is_refused(client: FlaskClient) -> None:
    account = customer(client)

    response = client.post(
        "/api/auth/password-reset/confirm", json={"token": "made-up-token", "new_password": NEW_PASSWORD}
    )

    assert_problem(response, 422, "invalid_reset_token")
    assert _login_status(client, account.email, PASSWORD) == 200


def test_using_the_second_token_spends_the_first(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    _request_reset(client, account.email)
    _request_reset(client, account.email)
    assert len(mailbox.to(account.email)) == 2
    first, second = _token_from(mailbox, account.email, 0), _token_from(mailbox, account.email, 1)
    assert first != second

    assert _confirm(client, second) == 200

    assert_problem(
        client.post(
            "/api/auth/password-reset/confirm", json={"token": first, "new_password": "Th1rd-password"}
        ),
        422,
        "invalid_reset_token",
    )
    assert _login_status(client, account.email, "Th1rd-password") == 401
    assert _login_status(client, account.email, NEW_PASSWORD) == 200


def test_a_weak_password_does_not_spend_the_token(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    _request_reset(client, account.email)
    token = _token_from(mailbox, account.email)

    response = client.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": "weak"})

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"new_password"}
    assert _login_status(client, account.email, PASSWORD) == 200
    assert _confirm(client, token) == 200
    assert _login_status(client, account.email, NEW_PASSWORD) == 200


def test_reset_requests_refuse_unknown_fields(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)

    response = client.post("/api/auth/password-reset", json={"email": account.email, "admin": True})

    assert error_fields(assert_problem(response, 422, "validation_error")) == {"admin"}
    assert mailbox.messages == []
