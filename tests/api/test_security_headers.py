"""Response headers: nosniff everywhere, no-store on token and account answers, a CSP and DENY framing on
the docs page, Vary: Origin where CORS answers, and CORS preflights that reach admin routes."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD, admin, customer

ORIGIN = "https://admin.shop.example"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/health"),
        ("GET", "/api/products"),
        ("GET", "/api/nope"),
        ("POST", "/api/auth/login"),
        ("DELETE", "/api/auth/login"),
        ("GET", "/api/docs"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/problems"),
        ("GET", "/api/swagger/js/swagger-ui-bundle.js"),
    ],
)
def test_every_response_says_nosniff(client: FlaskClient, method: str, path: str) -> None:
    response = client.open(path, method=method, json={} if method == "POST" else None)
    response.close()  # a file answer (the docs' assets) holds its file open until closed
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_token_and_account_answers_are_not_stored(app: Flask, client: FlaskClient) -> None:
    account = customer(client)
    refreshed = client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {account.refresh_token}"})
    answers = {
        "login": client.post("/api/auth/login", json={"email": account.email, "password": PASSWORD}),
        "failed login": client.post("/api/auth/login", json={"email": account.email, "password": "nope"}),
        "refresh": refreshed,
        "me": client.get("/api/auth/me", headers=account.headers),
        "addresses": client.get("/api/auth/me/addresses", headers=account.headers),
        "cart": client.get("/api/cart", headers=account.headers),
        "orders": client.get("/api/orders", headers=account.headers),
        "admin users": client.get("/api/admin/users", headers=admin(app, client).headers),
    }
    for name, response in answers.items():
        assert response.headers.get("Cache-Control") == "no-store", name
    # Public catalog answers stay cacheable (they carry ETags).
    assert "no-store" not in client.get("/api/products").headers.get("Cache-Control", "")


def test_the_docs_page_has_a_strict_csp_and_cannot_be_framed(client: FlaskClient) -> None:
    response = client.get("/api/docs")
    html = response.get_data(as_text=True)
    directives = [
        part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";")
    ]
    csp = dict(directives)

    assert response.headers["X-Frame-Options"] == "DENY"
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    # The assets are the app's own, and the one inline script is allowed by its hash only.
    inline = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert csp["script-src"].split() == ["'self'", f"'sha256-{digest}'"]
    assert csp["connect-src"] == "'self'"


def test_vary_origin_on_every_answer_when_cors_is_configured(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()
    for headers in ({"Origin": ORIGIN}, {"Origin": "https://evil.example"}, {}):
        response = client.get("/api/health", headers=headers)
        assert "Origin" in [v.strip() for v in response.headers.get("Vary", "").split(",")], headers


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/admin/users", "GET"),
        ("/api/admin/users/1/toggle-status", "PUT"),
        ("/api/admin/users/1/role", "PUT"),
        ("/api/admin/orders/1/refund", "POST"),
        ("/api/admin/vouchers", "POST"),
        ("/api/products", "POST"),
    ],
)
def test_cors_preflights_to_admin_routes_succeed(
    make_app: Callable[..., Flask], path: str, method: str
) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key",
    }

    response = client.options(path, headers=preflight)
    refused = client.options(path, headers={**preflight, "Origin": "https://evil.example"})

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert method in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Origin" in response.headers["Vary"]
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_a_preflight_grants_nothing_by_itself(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()
    assert client.get("/api/admin/users", headers={"Origin": ORIGIN}).status_code == 401
