"""The flask commands a newcomer and an operator run."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from tests.factories import login


def test_create_admin_is_idempotent_and_the_admin_can_log_in(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    runner = app.test_cli_runner()
    args = ["create-admin", "--email", "Root@Example.com", "--password", "Adm1n-pass"]

    first = runner.invoke(args=args)
    second = runner.invoke(args=args)

    assert first.exit_code == 0, first.output
    assert first.output.startswith("Created admin root@example.com")
    assert second.output.startswith("Updated admin root@example.com")
    with sessions() as session:
        admins = session.scalars(select(User).where(User.email == "root@example.com")).all()
    assert [(u.role, u.is_active) for u in admins] == [("admin", True)]
    assert login(app.test_client(), "root@example.com", "Adm1n-pass")["token_type"] == "Bearer"


def test_create_admin_refuses_a_weak_password_without_a_traceback(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "a@example.com", "--password", "short"]
    )

    assert result.exit_code == 2
    assert "password" in result.output
    assert "Traceback" not in result.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


@pytest.fixture
def development_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(APP_ENV="development")


def test_seed_db_twice_creates_the_demo_accounts_once(
    development_app: Flask, sessions: sessionmaker[Session]
) -> None:
    app = development_app
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-db"]).exit_code == 0
    result = runner.invoke(args=["seed-db"])

    assert result.exit_code == 0
    assert "admin@example.com" in result.output
    with sessions() as session:
        roles = sorted(session.scalars(select(User.role)))
    assert roles == ["admin", "customer", "customer"]
    assert login(app.test_client(), "alice@example.com", "Customer123!")["access_token"]


@pytest.mark.parametrize("env", ["production", "test"])
def test_seed_db_is_refused_outside_development(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], env: str
) -> None:
    # The demo accounts have published passwords (admin@example.com / Admin123!).
    app = make_app(APP_ENV=env, PASSWORD_RESET_URL="https://shop.example/reset?token={token}")

    result = app.test_cli_runner().invoke(args=["seed-db"])

    assert result.exit_code == 1
    assert f"APP_ENV={env}" in result.output
    assert "--force" in result.output
    assert "Traceback" not in result.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


def test_seed_db_with_force_runs_anywhere(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    app = make_app(APP_ENV="test")

    result = app.test_cli_runner().invoke(args=["seed-db", "--force"])

    assert result.exit_code == 0, result.output
    with sessions() as session:
        assert session.scalar(select(User.role).where(User.email == "admin@example.com")) == "admin"
