"""The flask commands a newcomer and an operator run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import RevokedToken, User
from shopwright.db import utcnow
from shopwright.idempotency import IdempotencyKey
from shopwright.orders.rollup import SalesDay
from shopwright.outbox import Event
from shopwright.reports import service
from tests.factories import customer, login
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer


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


def test_rebuild_sales_rollup_repairs_a_rollup_changed_behind_its_back(
    app: Flask, client: FlaskClient, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    product = shop.product(None, price_cents=1_250, cost_cents=500, stock_quantity=10)
    buyer = Buyer(client, customer(client))
    assert buyer.pay(buyer.buy(product["id"], 2)["id"]).status_code == 200
    with sessions() as session, session.begin():  # lost: a partial restore, a hand-made edit
        session.execute(delete(SalesDay))

    result = app.test_cli_runner().invoke(args=["rebuild-sales-rollup"])

    assert result.exit_code == 0, result.output
    assert result.output == "Rebuilt the sales rollup: 1 order(s) count\n"
    with sessions() as session:
        profit = service.profit_report(session, service.Window())
    assert (profit.revenue_cents, profit.cost_cents, profit.orders) == (2_500, 1_000, 1)


def test_purge_deletes_what_is_past_its_retention_and_keeps_the_rest(
    app: Flask, client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    # Given, for cron in the embedded default (no beat): of each kind one row past its retention, one not
    account = customer(client)
    now = utcnow()
    with sessions() as session, session.begin():
        user_id = session.scalar(select(User.id).where(User.email == account.email))
        for key, age in (("old", timedelta(hours=49)), ("new", timedelta(hours=1))):
            session.add(IdempotencyKey(user_id=user_id, key=key, request_hash="h", created_at=now - age))
        session.add(RevokedToken(key="jti:old", expires_at=now - timedelta(minutes=1)))
        session.add(RevokedToken(key="jti:live", expires_at=now + timedelta(minutes=1)))
        for days in (91, 89):
            session.add(Event(name=f"{days}d", payload={}, delivered_at=now - timedelta(days=days)))

    result = app.test_cli_runner().invoke(args=["purge"])

    assert result.exit_code == 0, result.output
    assert result.output == "Purged 1 idempotency key(s), 1 revocation(s), 1 delivered event(s)\n"
    with sessions() as session:
        assert session.scalars(select(IdempotencyKey.key)).all() == ["new"]
        assert session.scalars(select(RevokedToken.key)).all() == ["jti:live"]
        assert session.scalars(select(Event.name).where(Event.name.in_(["91d", "89d"]))).all() == ["89d"]
