"""When Redis (the revocation list) is unreachable, tokens are checked against its database copy,
and revoking one fails cleanly with 503, changing nothing."""

from collections.abc import Callable

from flask import Flask

from tests.factories import assert_problem, customer


def test_token_checks_use_the_database_copy_when_redis_is_unreachable(make_app: Callable[..., Flask]) -> None:
    # Given an app whose Redis does not answer (nothing listens on port 1)
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    client = app.test_client()
    account = customer(client)  # login itself needs no revocation check

    response = client.get("/api/auth/me", headers=account.headers)

    assert response.status_code == 200, response.json
    assert response.json["email"] == account.email  # type: ignore[index]


def test_a_revocation_fails_with_503_and_changes_nothing_when_redis_is_unreachable(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    client = app.test_client()
    account = customer(client)

    response = client.post("/api/auth/logout", headers=account.headers)

    body = assert_problem(response, 503, "service_unavailable")
    assert "redis" not in body["detail"].lower()
    # The logout did not happen: neither half of the revocation list holds the token
    assert client.get("/api/auth/me", headers=account.headers).status_code == 200


def test_retry_after_is_only_sent_with_429(make_app: Callable[..., Flask]) -> None:
    app = make_app(RATE_LIMIT_ENABLED=True, RATE_LIMIT_AUTH="5/minute")
    client = app.test_client()
    response = client.post("/api/auth/register", json={"email": "ra@example.com", "password": "Passw0rd-ok"})
    assert response.status_code == 201
    assert "Retry-After" not in response.headers
    assert "X-RateLimit-Remaining" in response.headers
