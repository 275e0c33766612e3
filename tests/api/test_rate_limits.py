"""Login and register are rate limited per client IP; other endpoints are not.

On the PostgreSQL run the limiter counts in Redis (make_app sets REDIS_URL); on SQLite in memory.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.conftest import Mailbox
from tests.factories import PASSWORD, assert_problem, unique_email

CLIENT_A = {"REMOTE_ADDR": "203.0.113.10"}
CLIENT_B = {"REMOTE_ADDR": "203.0.113.20"}


@pytest.fixture
def limited(make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(RATE_LIMIT_ENABLED=True, RATE_LIMIT_AUTH="3/minute").test_client()


def _register(client: FlaskClient, email: str, environ: dict[str, str] = CLIENT_A) -> int:
    response = client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD}, environ_base=environ
    )
    return response.status_code


def _login(client: FlaskClient, email: str, environ: dict[str, str] = CLIENT_A) -> int:
    response = client.post(
        "/api/auth/login", json={"email": email, "password": PASSWORD}, environ_base=environ
    )
    return response.status_code


def _assert_throttled(client: FlaskClient, path: str, payload: dict[str, str]) -> None:
    response = client.post(path, json=payload, environ_base=CLIENT_A)
    assert_problem(response, 429, "too_many_requests")
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60


def test_the_fourth_login_from_one_ip_is_429(limited: FlaskClient) -> None:
    email = unique_email()
    assert _register(limited, email, CLIENT_B) == 201

    statuses = [_login(limited, email) for _ in range(3)]

    assert statuses == [200, 200, 200]
    _assert_throttled(limited, "/api/auth/login", {"email": email, "password": PASSWORD})
    # Another client IP still has its own allowance.
    assert _login(limited, email, CLIENT_B) == 200


def test_failed_logins_count_too(limited: FlaskClient) -> None:
    email = unique_email()
    assert _register(limited, email, CLIENT_B) == 201
    wrong = {"email": email, "password": "Wrong-pass1"}

    statuses = [
        limited.post("/api/auth/login", json=wrong, environ_base=CLIENT_A).status_code for _ in range(3)
    ]

    assert statuses == [401, 401, 401]
    # Even the right password is refused now: guessing cannot go on.
    _assert_throttled(limited, "/api/auth/login", {"email": email, "password": PASSWORD})


def test_the_fourth_registration_from_one_ip_is_429_and_creates_nothing(
    limited: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    statuses = [_register(limited, unique_email()) for _ in range(3)]
    blocked = unique_email("blocked")

    assert statuses == [201, 201, 201]
    _assert_throttled(limited, "/api/auth/register", {"email": blocked, "password": PASSWORD})
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 3
        assert session.scalar(select(User.id).where(User.email == blocked)) is None
    assert _register(limited, unique_email(), CLIENT_B) == 201


def test_other_endpoints_are_not_limited(limited: FlaskClient) -> None:
    for _ in range(3):
        _login(limited, unique_email())

    statuses = {limited.get("/api/health", environ_base=CLIENT_A).status_code for _ in range(10)}

    assert statuses == {200}
    assert _login(limited, unique_email()) == 429


def test_limits_are_off_when_disabled(client: FlaskClient) -> None:
    statuses = {_login(client, unique_email()) for _ in range(6)}

    assert statuses == {401}


def test_counts_are_kept_in_redis_when_configured(limited: FlaskClient, backend: str) -> None:
    app = limited.application
    settings = app.extensions["shopwright.settings"]

    _login(limited, unique_email())

    storage = type(app.extensions["shopwright.limiter"].storage).__name__
    if settings.REDIS_URL:
        assert storage == "RedisStorage"
        keys = redis.Redis.from_url(settings.REDIS_URL).keys(f"*{settings.REDIS_KEY_PREFIX}*")
        assert keys
    else:
        assert backend == "sqlite"
        assert storage == "MemoryStorage"


# --- password reset and email_taken --------------------------------------------------------------
RESET = "/api/auth/password-reset"


@pytest.fixture
def reset_limited(make_app: Callable[..., Flask]) -> FlaskClient:
    app = make_app(
        RATE_LIMIT_ENABLED=True,
        RATE_LIMIT_PASSWORD_RESET="4/minute",
        RATE_LIMIT_PASSWORD_RESET_EMAIL="2/hour",
    )
    return app.test_client()


def _reset(client: FlaskClient, email: str, environ: dict[str, str] = CLIENT_A) -> int:
    return client.post(RESET, json={"email": email}, environ_base=environ).status_code


def test_resets_of_one_email_are_limited_whoever_asks(reset_limited: FlaskClient, mailbox: Mailbox) -> None:
    # 25 reset emails to one inbox in a second was the abuse: the target is counted, not only the caller.
    email = unique_email()
    assert _register(reset_limited, email, CLIENT_B) == 201

    statuses = [_reset(reset_limited, email.upper(), environ) for environ in (CLIENT_A, CLIENT_B)]
    third = reset_limited.post(
        RESET, json={"email": f" {email} "}, environ_base={"REMOTE_ADDR": "198.51.100.7"}
    )

    assert statuses == [202, 202]
    assert_problem(third, 429, "too_many_requests")
    assert 0 < int(third.headers["Retry-After"]) <= 3600
    assert len(mailbox.to(email)) == 2
    assert _reset(reset_limited, unique_email(), CLIENT_B) == 202  # other emails have their own allowance


def test_resets_from_one_ip_are_limited_whatever_the_email(reset_limited: FlaskClient) -> None:
    statuses = [_reset(reset_limited, unique_email()) for _ in range(4)]

    assert statuses == [202, 202, 202, 202]
    assert _reset(reset_limited, unique_email()) == 429
    assert _reset(reset_limited, unique_email(), CLIENT_B) == 202


def test_unknown_and_known_emails_are_limited_alike(reset_limited: FlaskClient) -> None:
    # The limit must not tell accounts apart either.
    known = unique_email()
    assert _register(reset_limited, known, CLIENT_B) == 201
    unknown = unique_email("nobody")

    assert [_reset(reset_limited, known), _reset(reset_limited, known), _reset(reset_limited, known)] == [
        202,
        202,
        429,
    ]
    assert [_reset(reset_limited, unknown, CLIENT_B) for _ in range(3)] == [202, 202, 429]


def test_the_reset_limits_default_to_their_documented_values(make_app: Callable[..., Flask]) -> None:
    settings = make_app().extensions["shopwright.settings"]
    assert (settings.RATE_LIMIT_PASSWORD_RESET, settings.RATE_LIMIT_PASSWORD_RESET_EMAIL) == (
        "5/minute;20/hour",
        "3/hour",
    )


def test_email_taken_answers_of_a_profile_change_are_limited_like_logins(
    limited: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    # Each 409 email_taken says an account exists: probing emails through PATCH /me is throttled.
    taken = [unique_email() for _ in range(4)]
    for n, email in enumerate(taken):  # each from its own address: registrations are limited too
        assert _register(limited, email, {"REMOTE_ADDR": f"198.51.100.{n + 1}"}) == 201
    mine = unique_email()
    assert _register(limited, mine, CLIENT_B) == 201
    login = limited.post("/api/auth/login", json={"email": mine, "password": PASSWORD}, environ_base=CLIENT_B)
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}

    def change(body: dict[str, str], environ: dict[str, str] = CLIENT_A) -> int:
        return limited.patch("/api/auth/me", json=body, headers=headers, environ_base=environ).status_code

    attempts = [change({"email": email, "current_password": PASSWORD}) for email in taken[:3]]

    assert attempts == [409, 409, 409]
    assert change({"email": taken[3], "current_password": PASSWORD}) == 429
    assert change({"email": unique_email(), "current_password": PASSWORD}) == 429  # any change, from that IP
    # Answers other than 409 are not counted.
    assert [change({"full_name": "Still Me"}, CLIENT_B) for _ in range(5)] == [200] * 5
    with sessions() as session:
        assert session.scalar(select(User.email).where(User.email == mine)) == mine
