"""Helpers that arrange data through the real API or the real use cases: accounts and tokens here, the
other domains in the sibling modules (catalog, cart, orders, payments); shared assertions at the end."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from shopwright.accounts.models import User
from shopwright.accounts.seed import ensure_admin

PASSWORD = "Passw0rd-ok"
_counter = itertools.count(1)


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}@example.com"


@dataclass
class Account:
    """A registered, logged-in user as a client sees it."""

    id: int
    email: str
    password: str
    access_token: str
    refresh_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.access_token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: FlaskClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def customer(
    client: FlaskClient, email: str | None = None, password: str = PASSWORD, **extra: Any
) -> Account:
    """Register and log in a customer."""
    email = email or unique_email()
    response = client.post("/api/auth/register", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.json
    tokens = login(client, email, password)
    return Account(response.json["id"], email, password, tokens["access_token"], tokens["refresh_token"])  # type: ignore[index]


def admin(app: Flask, client: FlaskClient, email: str | None = None, password: str = PASSWORD) -> Account:
    """Create an admin through the same path as `flask create-admin`, then log in."""
    email = email or unique_email("admin")
    with app.extensions["shopwright.sessions"]() as session:
        user, _ = ensure_admin(session, email, password)
    tokens = login(client, email, password)
    return Account(user.id, email, password, tokens["access_token"], tokens["refresh_token"])


def signed_token(
    app: Flask,
    user_id: int,
    role: str = "customer",
    *,
    kind: str = "access",
    expires_in: timedelta = timedelta(minutes=15),
    secret: str | None = None,
) -> str:
    """Sign a `kind` ("access" or "refresh") token with the app's SECRET_KEY, or a foreign `secret`."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": role,
        "fam": f"family-{uuid.uuid4()}",
        "jti": str(uuid.uuid4()),
        "type": kind,
        "iat": now,
        "nbf": now,
        "exp": now + expires_in,
    }
    key = secret or app.extensions["shopwright.settings"].SECRET_KEY
    return jwt.encode(claims, key, algorithm="HS256")


# --- assertions and payloads shared by the API tests -------------------------------------------
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}


def assert_problem(response: TestResponse, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an RFC 9457 problem+json answer with this status (and code); return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["type"] == f"/api/problems#{body['code']}"
    if code is not None:
        assert body["code"] == code, body
    return body


def error_fields(body: dict[str, Any]) -> set[str]:
    """Return the fields named by a 422 problem's `errors` entries."""
    return {entry["field"] for entry in body.get("errors", [])}


def address_payload(**overrides: Any) -> dict[str, Any]:
    """A valid address book entry; keyword arguments replace or add fields."""
    values: dict[str, Any] = {
        "label": "Home",
        "full_name": "Ann Example",
        "line1": "Hauptstrasse 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    values.update(overrides)
    return values


def active_admins(sessions: sessionmaker[Session]) -> int:
    """Count the admins who can run the shop: active, not deleted."""
    with sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(User)
                .where(User.role == "admin", User.is_active, User.deleted_at.is_(None))
            )
            or 0
        )


def toggle_status(client: FlaskClient, admin_account: Account, user_id: int) -> dict[str, Any]:
    """Deactivate or reactivate a user as an admin; return the user as the API answers it."""
    response = client.put(f"/api/admin/users/{user_id}/toggle-status", headers=admin_account.headers)
    assert response.status_code == 200, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body
