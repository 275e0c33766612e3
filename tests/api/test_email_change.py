"""Changing the account's email (PATCH /api/auth/me) needs the current password: a stolen access token
alone cannot take the account over. The old address is told, and every other session ends."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.conftest import Mailbox
from tests.factories import (
    PASSWORD,
    Account,
    assert_problem,
    bearer,
    customer,
    error_fields,
    login,
    unique_email,
)

ME = "/api/auth/me"


def _email_of(sessions: sessionmaker[Session], account: Account) -> str:
    with sessions() as session:
        email = session.scalar(select(User.email).where(User.id == account.id))
        assert email is not None
        return email


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({}, "validation_error", "current_password"),
        ({"current_password": "Wrong-pass-1"}, "wrong_password", "current_password"),
        ({"current_password": ""}, "validation_error", "current_password"),
    ],
)
def test_an_email_change_without_the_right_password_changes_nothing(
    client: FlaskClient,
    sessions: sessionmaker[Session],
    mailbox: Mailbox,
    extra: dict[str, str],
    code: str,
    field: str,
) -> None:
    account = customer(client, full_name="Keep Me")
    other_session = login(client, account.email)
    new_email = unique_email("thief")

    response = client.patch(
        ME, json={"email": new_email, "full_name": "Thief", **extra}, headers=account.headers
    )

    assert field in error_fields(assert_problem(response, 422, code))
    assert _email_of(sessions, account) == account.email
    assert client.get(ME, headers=account.headers).json["full_name"] == "Keep Me"
    assert mailbox.messages == []
    assert client.get(ME, headers=bearer(other_session["access_token"])).status_code == 200


def test_an_email_change_with_the_password_tells_the_old_address_and_ends_other_sessions(
    client: FlaskClient, sessions: sessionmaker[Session], mailbox: Mailbox
) -> None:
    account = customer(client, full_name="Ann Owner")
    other = login(client, account.email)
    new_email = unique_email("moved")

    response = client.patch(
        ME, json={"email": new_email.upper(), "current_password": PASSWORD}, headers=account.headers
    )

    assert response.status_code == 200, response.json
    assert response.json["email"] == new_email
    assert _email_of(sessions, account) == new_email
    # The old address hears of it (a stolen session cannot change the email unnoticed); the new one not.
    [notice] = mailbox.to(account.email)
    assert notice["Subject"] == "Your Shopwright email address was changed"
    # Plain text and HTML alternatives, rendered from the templates in notifications/templates/.
    assert notice.get_content_type() == "multipart/alternative"
    body = notice.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = notice.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert new_email in body
    assert new_email in html
    assert "Hello Ann Owner," in body
    assert mailbox.to(new_email) == []
    # This session goes on; every other one ended, access and refresh tokens alike.
    assert client.get(ME, headers=account.headers).status_code == 200
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 401
    refreshed = client.post("/api/auth/refresh", headers=bearer(other["refresh_token"]))
    assert refreshed.status_code == 401
    assert login(client, new_email)["access_token"]


def test_the_same_email_in_another_case_is_no_change(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    other = login(client, account.email)

    response = client.patch(
        ME, json={"email": account.email.upper(), "full_name": "Same"}, headers=account.headers
    )

    assert response.status_code == 200
    assert response.json["email"] == account.email
    assert mailbox.messages == []
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_a_name_change_needs_no_password(client: FlaskClient, mailbox: Mailbox) -> None:
    account = customer(client)
    response = client.patch(ME, json={"full_name": "Only The Name"}, headers=account.headers)
    assert (response.status_code, response.json["full_name"]) == (200, "Only The Name")
    assert mailbox.messages == []


def test_without_the_password_a_taken_email_is_not_revealed(client: FlaskClient) -> None:
    # The password is checked before the email: a stolen token cannot probe which emails have accounts.
    taken = customer(client)
    account = customer(client)

    response = client.patch(ME, json={"email": taken.email}, headers=account.headers)
    wrong = client.patch(
        ME, json={"email": taken.email, "current_password": "Nope-1234"}, headers=account.headers
    )

    assert_problem(response, 422, "validation_error")
    assert_problem(wrong, 422, "wrong_password")
