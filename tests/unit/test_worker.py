"""The Celery app's configuration: a broker from the settings, eager without one, the beat schedule."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app

from shopwright import create_app
from shopwright.config import Settings
from shopwright.worker import (
    CANCEL_UNPAID_ORDERS,
    DELIVER_EVENTS,
    DELIVER_WEBHOOKS,
    EXPIRE_CARTS,
    PURGE_EVENTS,
    PURGE_IDEMPOTENCY_KEYS,
    PURGE_REVOKED_TOKENS,
    RECONCILE_PAYMENTS,
    SEND_EMAILS,
    celery_config,
    celery_init_app,
)
from tests.conftest import TEST_SECRET


def _settings(**values: Any) -> Settings:
    base = {"APP_ENV": "test", "SECRET_KEY": TEST_SECRET, "REDIS_URL": None, "LOG_LEVEL": "WARNING"}
    return Settings(_env_file=None, **{**base, **values})


def _app(tmp_path: Any, **values: Any) -> Flask:
    return create_app(_settings(DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}", **values))


def test_without_a_broker_tasks_run_eagerly() -> None:
    config = celery_config(_settings())

    assert config["broker_url"] is None
    assert config["task_always_eager"] is True
    assert config["task_eager_propagates"] is True


def test_the_broker_defaults_to_redis_url() -> None:
    config = celery_config(_settings(REDIS_URL="redis://cache.internal:6379/0"))

    assert config["broker_url"] == "redis://cache.internal:6379/0"
    assert config["task_always_eager"] is False


def test_celery_broker_url_wins_over_redis_url() -> None:
    config = celery_config(
        _settings(REDIS_URL="redis://cache.internal:6379/0", CELERY_BROKER_URL="redis://jobs.internal:6379/3")
    )

    assert config["broker_url"] == "redis://jobs.internal:6379/3"
    assert config["task_always_eager"] is False


def test_broker_keys_live_under_the_redis_key_prefix() -> None:
    config = celery_config(_settings(REDIS_URL="redis://r:6379/0", REDIS_KEY_PREFIX="shop-staging"))

    assert config["broker_transport_options"] == {"global_keyprefix": "shop-staging:celery:"}


def test_beat_sends_exactly_the_periodic_tasks_at_their_intervals() -> None:
    schedule = celery_config(_settings())["beat_schedule"]

    assert {name: (entry["task"], entry["schedule"]) for name, entry in schedule.items()} == {
        "deliver-events": (DELIVER_EVENTS, 10.0),
        "expire-carts": (EXPIRE_CARTS, 60.0),
        "cancel-unpaid-orders": (CANCEL_UNPAID_ORDERS, 60.0),
        "reconcile-payments": (RECONCILE_PAYMENTS, 300.0),
        "purge-idempotency-keys": (PURGE_IDEMPOTENCY_KEYS, 3600.0),
        "purge-revoked-tokens": (PURGE_REVOKED_TOKENS, 3600.0),
        "purge-events": (PURGE_EVENTS, 3600.0),
        "send-emails": (SEND_EMAILS, 10.0),
        "deliver-webhooks": (DELIVER_WEBHOOKS, 10.0),
    }
    # A run that waited longer than one interval is dropped rather than piling up behind a stopped worker.
    assert schedule["deliver-events"]["options"] == {"expires": 10}
    assert schedule["expire-carts"]["options"] == {"expires": 60}


def test_the_intervals_are_settings() -> None:
    schedule = celery_config(
        _settings(CELERY_DELIVER_EVENTS_INTERVAL_SECONDS=2, CELERY_EXPIRE_CARTS_INTERVAL_SECONDS=300)
    )["beat_schedule"]

    assert schedule["deliver-events"]["schedule"] == 2.0
    assert schedule["expire-carts"]["schedule"] == 300.0


def test_the_celery_app_registers_the_tasks_under_stable_names(tmp_path: Any) -> None:
    celery_app = celery_init_app(_app(tmp_path))

    names = {DELIVER_EVENTS, EXPIRE_CARTS, CANCEL_UNPAID_ORDERS, RECONCILE_PAYMENTS, PURGE_REVOKED_TOKENS}
    assert names | {SEND_EMAILS, DELIVER_WEBHOOKS, PURGE_EVENTS} <= set(celery_app.tasks)
    assert celery_app.conf.task_always_eager is True


def test_celery_init_app_is_idempotent(tmp_path: Any) -> None:
    app = _app(tmp_path)

    assert celery_init_app(app) is celery_init_app(app)
    assert app.extensions["celery"] is celery_init_app(app)


def test_tasks_run_inside_the_flask_app_context(tmp_path: Any) -> None:
    app = _app(tmp_path)
    celery_app = celery_init_app(app)

    @celery_app.task(name="test.which_app")  # type: ignore[untyped-decorator]
    def which_app() -> bool:
        return current_app._get_current_object() is app  # type: ignore[attr-defined]

    assert which_app.delay().get() is True
