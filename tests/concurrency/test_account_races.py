"""Races on account rules, with real commits on PostgreSQL and threads released together."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import Address, RefreshToken, User
from tests.factories import PASSWORD, Account, active_admins, admin, customer, login
from tests.support.races import race

THREADS = 16


def test_one_email_registered_by_many_at_once_creates_one_account(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    # Given many clients registering the same address in different letter cases at the same moment
    def register(i: int) -> int:
        email = "Race@Example.com" if i % 2 else "race@example.COM"
        body = {"email": email, "password": PASSWORD}
        return app.test_client().post("/api/auth/register", json=body).status_code

    # When they race
    statuses = Counter(race(THREADS, register))

    # Then exactly one wins and the others get a clean 409, never a 500
    assert statuses == Counter({201: 1, 409: THREADS - 1})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1


def test_a_refresh_token_spent_by_many_at_once_is_spent_once(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    # Given one refresh token presented by many clients at the same moment
    account = customer(app.test_client())

    def refresh(_i: int) -> int:
        client = app.test_client()
        return client.post("/api/auth/refresh", json={"refresh_token": account.refresh_token}).status_code

    statuses = Counter(race(THREADS, refresh))

    # Then exactly one rotation succeeds; the rest are treated as reuse (and revoke the family)
    assert statuses == Counter({200: 1, 401: THREADS - 1})
    with sessions() as session:
        rows = session.scalars(select(RefreshToken).where(RefreshToken.user_id == account.id)).all()
    # the original token plus at most the one successful rotation; after reuse all are revoked
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


def test_concurrent_first_addresses_leave_exactly_one_default(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    # Given a customer with an empty address book adding addresses from many devices at once
    account = customer(app.test_client())
    tokens = login(app.test_client(), account.email)
    address = {
        "full_name": "A",
        "line1": "1 Main St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }

    def add(_i: int) -> int:
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        return app.test_client().post("/api/auth/me/addresses", json=address, headers=headers).status_code

    statuses = Counter(race(THREADS, add))

    # Then every add succeeds and exactly one address is the default
    assert statuses == Counter({201: THREADS})
    with sessions() as session:
        defaults = session.scalar(
            select(func.count()).where(Address.user_id == account.id, Address.is_default.is_(True))
        )
    assert defaults == 1


# --- the last active admin -----------------------------------------------------------------------
@pytest.mark.parametrize("action", ["deactivate each other", "demote each other", "delete themselves"])
def test_the_last_two_admins_racing_to_remove_each_other_leave_one(
    app: Flask, sessions: sessionmaker[Session], action: str
) -> None:
    # Protection: the active admins' rows are locked in id order before they are counted
    # (accounts.service._keep_an_admin), so the second request counts after the first committed. Without
    # the lock both count two active admins, both succeed, and nobody can run the shop any more.
    client = app.test_client()
    for round_ in range(3):  # a race may not show every time
        with sessions() as session, session.begin():  # earlier rounds' survivor steps aside
            session.execute(update(User).where(User.role == "admin").values(role="customer"))
        pair = [admin(app, client), admin(app, client)]

        def remove(i: int, pair: list[Account] = pair) -> tuple[int, str | None]:
            me, other = pair[i], pair[1 - i]
            caller = app.test_client()
            if action == "deactivate each other":
                response = caller.put(f"/api/admin/users/{other.id}/toggle-status", headers=me.headers)
            elif action == "demote each other":
                response = caller.put(
                    f"/api/admin/users/{other.id}/role", json={"role": "customer"}, headers=me.headers
                )
            else:
                response = caller.delete("/api/auth/me", headers=me.headers)
            code = (response.get_json(silent=True) or {}).get("code")
            return response.status_code, code

        outcomes = Counter(race(2, remove))

        done = 204 if action == "delete themselves" else 200
        assert outcomes == Counter({(done, None): 1, (409, "last_admin"): 1}), round_
        assert active_admins(sessions) == 1, round_
