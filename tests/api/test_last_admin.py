"""The shop keeps an active admin: the last one cannot delete their account, be deactivated or lose the
role (409 last_admin). PUT /api/admin/users/<id>/role changes a role; tokens carry the role, so a change
ends the user's sessions."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.factories import (
    PASSWORD,
    Account,
    active_admins,
    admin,
    assert_problem,
    customer,
    error_fields,
    login,
)

USERS = "/api/admin/users"


def _user(sessions: sessionmaker[Session], user_id: int) -> User:
    with sessions() as session:
        user = session.get(User, user_id)
        assert user is not None
        return user


def _set_role(client: FlaskClient, by: Account, user_id: int, role: object) -> object:
    return client.put(f"{USERS}/{user_id}/role", json={"role": role}, headers=by.headers)


# --- deleting one's own account --------------------------------------------------------------------
def test_the_last_admin_cannot_delete_their_account(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss = admin(app, client)

    problem = assert_problem(client.delete("/api/auth/me", headers=boss.headers), 409, "last_admin")

    assert "last active admin" in problem["detail"]
    user = _user(sessions, boss.id)
    assert (user.deleted_at, user.is_active, user.email) == (None, True, boss.email)
    assert client.get("/api/auth/me", headers=boss.headers).status_code == 200


def test_an_admin_with_a_colleague_can_delete_their_account(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    first, second = admin(app, client), admin(app, client)

    assert client.delete("/api/auth/me", headers=first.headers).status_code == 204

    assert _user(sessions, first.id).deleted_at is not None
    assert_problem(client.delete("/api/auth/me", headers=second.headers), 409, "last_admin")
    assert active_admins(sessions) == 1


def test_a_customer_deletes_their_account_whatever_the_admins(app: Flask, client: FlaskClient) -> None:
    admin(app, client)
    account = customer(client)
    assert client.delete("/api/auth/me", headers=account.headers).status_code == 204


# --- deactivation ----------------------------------------------------------------------------------
def test_deactivating_another_admin_leaves_the_acting_one(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    first, second = admin(app, client), admin(app, client)

    response = client.put(f"{USERS}/{second.id}/toggle-status", headers=first.headers)

    assert (response.status_code, response.json["is_active"]) == (200, False)
    assert active_admins(sessions) == 1
    assert_problem(client.put(f"{USERS}/{first.id}/toggle-status", headers=first.headers), 409)
    assert active_admins(sessions) == 1


# --- the role --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "status"), [("anonymous", 401), ("customer", 403)])
def test_changing_a_role_is_for_admins(app: Flask, client: FlaskClient, role: str, status: int) -> None:
    target = customer(client)
    headers = {} if role == "anonymous" else customer(client).headers
    response = client.put(f"{USERS}/{target.id}/role", json={"role": "admin"}, headers=headers)
    assert_problem(response, status)
    assert login(client, target.email)  # unchanged: still a customer who can log in
    assert client.get(USERS, headers=target.headers).status_code == 403


def test_an_admin_promotes_a_customer_who_then_logs_in_as_admin(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss = admin(app, client)
    helper = customer(client)

    response = _set_role(client, boss, helper.id, "admin")

    assert response.status_code == 200, response.json
    assert (response.json["id"], response.json["role"]) == (helper.id, "admin")
    # Tokens carry the role: the old ones end, a new login carries the new role.
    assert client.get("/api/auth/me", headers=helper.headers).status_code == 401
    token = login(client, helper.email)["access_token"]
    assert client.get(USERS, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert active_admins(sessions) == 2


def test_a_demoted_admin_loses_admin_access_at_once(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss, other = admin(app, client), admin(app, client)

    response = _set_role(client, boss, other.id, "customer")

    assert (response.status_code, response.json["role"]) == (200, "customer")
    assert client.get(USERS, headers=other.headers).status_code == 401
    token = login(client, other.email, PASSWORD)["access_token"]
    assert client.get(USERS, headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert _user(sessions, other.id).role == "customer"


def test_the_last_admin_cannot_lose_the_role(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss = admin(app, client)

    assert_problem(_set_role(client, boss, boss.id, "customer"), 409, "last_admin")

    assert _user(sessions, boss.id).role == "admin"
    assert client.get(USERS, headers=boss.headers).status_code == 200  # the session was not ended


def test_an_admin_may_step_down_while_another_remains(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss, other = admin(app, client), admin(app, client)
    assert _set_role(client, boss, boss.id, "customer").status_code == 200
    assert active_admins(sessions) == 1
    assert_problem(_set_role(client, other, other.id, "customer"), 409, "last_admin")


def test_an_inactive_admin_does_not_count_as_the_one_left(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    boss, other = admin(app, client), admin(app, client)
    assert client.put(f"{USERS}/{other.id}/toggle-status", headers=boss.headers).status_code == 200

    assert_problem(_set_role(client, boss, boss.id, "customer"), 409, "last_admin")
    assert _set_role(client, boss, other.id, "customer").status_code == 200  # not an active admin


@pytest.mark.parametrize("role", ["superuser", "", None, 1, "Admin"])
def test_an_unknown_role_is_422(app: Flask, client: FlaskClient, role: object) -> None:
    boss = admin(app, client)
    target = customer(client)
    problem = assert_problem(_set_role(client, boss, target.id, role), 422, "validation_error")
    assert "role" in error_fields(problem)


@pytest.mark.parametrize("user_id", ["999999", str(2**40)])
def test_the_role_of_an_unknown_user_is_404(app: Flask, client: FlaskClient, user_id: str) -> None:
    boss = admin(app, client)
    response = client.put(f"{USERS}/{user_id}/role", json={"role": "admin"}, headers=boss.headers)
    assert_problem(response, 404, "user_not_found")


def test_setting_the_same_role_changes_nothing(app: Flask, client: FlaskClient) -> None:
    boss = admin(app, client)
    target = customer(client)
    assert _set_role(client, boss, target.id, "customer").status_code == 200
    assert client.get("/api/auth/me", headers=target.headers).status_code == 200  # sessions kept
