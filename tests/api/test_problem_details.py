"""Every error is RFC 9457 problem+json; request ids; CORS."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.factories import PASSWORD, assert_problem, customer, unique_email

ORIGIN = "https://shop.example"


def test_malformed_json_is_400(client: FlaskClient) -> None:
    email = unique_email()

    response = client.post(
        "/api/auth/register",
        data=f'{{"email": "{email}", "password": "{PASSWORD}"',
        content_type="application/json",
    )

    body = assert_problem(response, 400, "bad_request")
    assert body["title"] == "Bad Request"
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_415(client: FlaskClient, content_type: str) -> None:
    email = unique_email()

    response = client.post(
        "/api/auth/register", data=f"email={email}&password={PASSWORD}", content_type=content_type
    )

    assert_problem(response, 415, "unsupported_media_type")
    assert client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 401


@pytest.mark.parametrize("raw", ["[]", "null", '"text"', "42", "true"])
def test_json_that_is_not_an_object_is_422_not_500(client: FlaskClient, raw: str) -> None:
    response = client.post("/api/auth/register", data=raw, content_type="application/json")

    assert_problem(response, 422, "validation_error")


@pytest.mark.parametrize("path", ["/api/nope", "/api/auth/nope", "/nope", "/api/auth/me/addresses/abc"])
def test_unknown_route_is_404(client: FlaskClient, path: str) -> None:
    body = assert_problem(client.get(path), 404, "not_found")

    assert body["title"] == "Not Found"
    assert path in body["detail"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("delete", "/api/auth/login", {"POST"}),
        ("get", "/api/auth/register", {"POST"}),
        ("post", "/api/health", {"GET", "HEAD"}),
        ("post", "/api/auth/me", {"GET", "PUT", "PATCH", "DELETE"}),
    ],
)
def test_wrong_method_is_405_with_allow(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(path)

    assert_problem(response, 405, "method_not_allowed")
    assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def _app_with_boom(make_app: Callable[..., Flask]) -> Flask:
    app = make_app()

    def boom() -> str:
        raise RuntimeError("secret-internal-detail")

    app.add_url_rule("/api/_boom", view_func=boom)
    return app


def test_an_unexpected_error_is_a_bare_500(make_app: Callable[..., Flask]) -> None:
    client = _app_with_boom(make_app).test_client()

    response = client.get("/api/_boom", headers={"X-Request-ID": "boom-1"})

    body = assert_problem(response, 500, "internal_error")
    text = response.get_data(as_text=True)
    for leak in ("secret-internal-detail", "RuntimeError", "Traceback", "File ", ".py"):
        assert leak not in text
    assert "boom-1" in body["detail"]
    assert response.headers["X-Request-ID"] == "boom-1"
    assert set(body) == {"type", "title", "status", "detail", "code"}


def test_the_request_id_is_echoed(client: FlaskClient) -> None:
    for path in ("/api/health", "/api/nope"):
        response = client.get(path, headers={"X-Request-ID": "req-42.a:b_c"})

        assert response.headers["X-Request-ID"] == "req-42.a:b_c"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 129, "semi;colon"])
def test_a_request_id_is_generated_when_missing_or_unsafe(client: FlaskClient, sent: str | None) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}

    first = client.get("/api/health", headers=headers).headers["X-Request-ID"]
    second = client.get("/api/health", headers=headers).headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_cors_allows_the_configured_origin_only(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()

    allowed = client.get("/api/health", headers={"Origin": ORIGIN})
    other = client.get("/api/health", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == other.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers


def test_cors_preflight_of_a_protected_route_succeeds(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    }

    response = client.options("/api/auth/me", headers=preflight)
    refused = client.options("/api/auth/me", headers={**preflight, "Origin": "https://evil.example"})

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"]
    assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_cors_headers_are_on_errors_too(make_app: Callable[..., Flask]) -> None:
    client = make_app(CORS_ORIGINS=[ORIGIN]).test_client()
    account = customer(client)

    response = client.patch(
        "/api/auth/me", json={"role": "admin"}, headers={**account.headers, "Origin": ORIGIN}
    )

    assert_problem(response, 422, "validation_error")
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
