"""Background work: the Celery app (Flask's `celery_init_app` pattern), its tasks and their schedule.

    celery -A shopwright.worker worker      # runs tasks
    celery -A shopwright.worker beat        # sends the periodic ones (run exactly one)

Celery finds this module's `celery` attribute, built on first access from `create_app()` and the
environment, so importing the module has no side effects. Tasks run inside the Flask app context.
The work itself lives in database rows (outbox events, carts): a lost, late or duplicated task message
loses nothing, the next run picks the rows up. Without a broker (neither `CELERY_BROKER_URL` nor
`REDIS_URL`, the embedded default) tasks run eagerly in the caller, and cron runs the periodic work
through `flask deliver-events` and `flask expire-carts` instead of beat.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis
from celery import Celery, Task, shared_task
from celery.signals import setup_logging, worker_init, worker_process_shutdown
from flask import Flask, current_app

from shopwright.config import Settings
from shopwright.observability import get_logger
from shopwright.outbox import Defer, purge_delivered

log = get_logger(__name__)
DELIVER_EVENTS = "shopwright.deliver_events"
EXPIRE_CARTS = "shopwright.expire_carts"
CANCEL_UNPAID_ORDERS = "shopwright.cancel_unpaid_orders"
PURGE_IDEMPOTENCY_KEYS = "shopwright.purge_idempotency_keys"
PURGE_REVOKED_TOKENS = "shopwright.purge_revoked_tokens"
PURGE_EVENTS = "shopwright.purge_events"
SEND_EMAILS = "shopwright.send_emails"
DELIVER_WEBHOOKS = "shopwright.deliver_webhooks"
RECONCILE_PAYMENTS = "shopwright.reconcile_payments"
RECONCILE_EVERY_SECONDS = 300
# Relative to the working directory, like the other instance/ files (writable in the Docker image).
BEAT_SCHEDULE_FILE = "instance/celerybeat-schedule"
# One run delivers at most this many events; a backlog spreads over the next runs and workers.
DELIVER_BATCH = 1000


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return the Celery configuration for these settings: a Redis broker, or eager without one."""
    broker = settings.CELERY_BROKER_URL or settings.REDIS_URL
    every_events = settings.CELERY_DELIVER_EVENTS_INTERVAL_SECONDS
    every_carts = settings.CELERY_EXPIRE_CARTS_INTERVAL_SECONDS
    return {
        "broker_url": broker,
        # Broker keys share the app's Redis namespace, so deployments (or test runs) on one Redis stay apart.
        "broker_transport_options": {"global_keyprefix": f"{settings.REDIS_KEY_PREFIX}:celery:"},
        "broker_connection_retry_on_startup": True,
        "task_always_eager": broker is None,
        "task_eager_propagates": True,
        # No result backend: outcomes are recorded in database rows and logs, and nothing waits on results.
        "task_ignore_result": True,
        "timezone": "UTC",
        "beat_schedule_filename": BEAT_SCHEDULE_FILE,
        # Read by _serve_metrics when the worker starts (WORKER_METRICS_PORT).
        "shopwright_metrics_port": settings.WORKER_METRICS_PORT,
        "beat_schedule": {
            # A run that waited longer than one interval (worker down) is dropped: the next one does its work.
            "deliver-events": {
                "task": DELIVER_EVENTS,
                "schedule": float(every_events),
                "options": {"expires": every_events},
            },
            "expire-carts": {
                "task": EXPIRE_CARTS,
                "schedule": float(every_carts),
                "options": {"expires": every_carts},
            },
            # Same cadence as the cart sweep: both release stock that nobody is going to pay for.
            "cancel-unpaid-orders": {
                "task": CANCEL_UNPAID_ORDERS,
                "schedule": float(every_carts),
                "options": {"expires": every_carts},
            },
            # Payments whose answer was lost: their orders can be neither paid nor cancelled until settled.
            "reconcile-payments": {
                "task": RECONCILE_PAYMENTS,
                "schedule": float(RECONCILE_EVERY_SECONDS),
                "options": {"expires": RECONCILE_EVERY_SECONDS},
            },
            "purge-idempotency-keys": {
                "task": PURGE_IDEMPOTENCY_KEYS,
                "schedule": 3600.0,
                "options": {"expires": 3600},
            },
            # The revocation list's table keeps an entry until its token would have expired anyway.
            "purge-revoked-tokens": {
                "task": PURGE_REVOKED_TOKENS,
                "schedule": 3600.0,
                "options": {"expires": 3600},
            },
            "purge-events": {
                "task": PURGE_EVENTS,
                "schedule": 3600.0,
                "options": {"expires": 3600},
            },
            # deliver-events sends what its handlers queued; these catch the retries that fall due later.
            "send-emails": {
                "task": SEND_EMAILS,
                "schedule": float(every_events),
                "options": {"expires": every_events},
            },
            "deliver-webhooks": {
                "task": DELIVER_WEBHOOKS,
                "schedule": float(every_events),
                "options": {"expires": every_events},
            },
        },
    }


def celery_init_app(app: Flask) -> Celery:
    """Attach a Celery app to `app` whose tasks run inside its app context; return it."""
    existing: Celery | None = app.extensions.get("celery")
    if existing is not None:
        return existing

    class FlaskTask(Task):  # type: ignore[misc]  # celery ships no type hints
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery_app = Celery("shopwright", task_cls=FlaskTask)
    celery_app.config_from_object(celery_config(app.extensions["shopwright.settings"]))
    celery_app.set_default()
    app.extensions["celery"] = celery_app
    return celery_app


def wake_up_key(settings: Settings) -> str:
    """The Redis key that says a deliver_events run has been asked for and has not started yet."""
    return f"{settings.REDIS_KEY_PREFIX}:outbox:wake-up"


def queue_deliveries(app: Flask, *, after_response: Defer) -> Defer:
    """Return the outbox's `defer` for OUTBOX_DELIVERY=worker: ask for a deliver_events run after a response.

    A busy shop commits events faster than a worker starts runs, and a Celery message costs the web
    process more CPU than the checkout's own SQL statements. So a process asks for a run only when none
    is pending: it sets the wake-up key (SET NX) and sends the message only if the key was not there.
    The run deletes the key before it reads the outbox, so an event committed before the deletion is
    delivered by that run, and one committed after it finds the key gone and asks again: no event is left
    waiting. The key expires after beat's interval: a message lost in the broker delays events no longer
    than beat's periodic run would. Without Redis (another broker) every commit sends its message.
    """
    celery_app = celery_init_app(app)
    settings: Settings = app.extensions["shopwright.settings"]
    wake_ups: redis.Redis | None = app.extensions.get("shopwright.redis")
    key, ttl = wake_up_key(settings), settings.CELERY_DELIVER_EVENTS_INTERVAL_SECONDS

    def queue(_work: Callable[[], object]) -> None:
        def send() -> None:
            try:
                if wake_ups is None or wake_ups.set(key, 1, nx=True, ex=ttl):
                    celery_app.send_task(DELIVER_EVENTS)
            except Exception as error:  # Redis or the broker is down: beat's next round delivers instead
                log.warning("outbox.queue_failed", error_type=type(error).__name__)

        after_response(send)

    return queue


def _woken_up() -> None:
    """Delete the wake-up key: commits from now on ask for another run (queue_deliveries)."""
    wake_ups: redis.Redis | None = current_app.extensions.get("shopwright.redis")
    if wake_ups is None:
        return
    try:
        wake_ups.delete(wake_up_key(current_app.extensions["shopwright.settings"]))
    except redis.RedisError as error:  # the key expires by itself; this run delivers what is pending
        log.warning("outbox.wake_up_not_cleared", error_type=type(error).__name__)


@shared_task(name=DELIVER_EVENTS)  # type: ignore[untyped-decorator]
def deliver_events() -> int:
    """Deliver the outbox events that are due (what `flask deliver-events` does); return the count."""
    _woken_up()
    delivered: int = current_app.extensions["shopwright.outbox"].deliver_pending(limit=DELIVER_BATCH)
    if delivered:
        log.info("events.delivered", delivered=delivered)
    return delivered


@shared_task(name=EXPIRE_CARTS)  # type: ignore[untyped-decorator]
def expire_carts() -> dict[str, int]:
    """Expire the carts past their TTL and release their reserved stock; return the counts."""
    from shopwright.cart import service as cart  # imported on use: only this task needs the cart domain

    with current_app.extensions["shopwright.sessions"]() as session:
        expired = cart.expire_carts(session)
    log.info("carts.expired", carts=expired.carts, units=expired.units)
    return {"carts": expired.carts, "units": expired.units}


@shared_task(name=CANCEL_UNPAID_ORDERS)  # type: ignore[untyped-decorator]
def cancel_unpaid_orders() -> int:
    """Cancel orders left unpaid for ORDER_PAYMENT_TIMEOUT_MINUTES, restocking them; return the count."""
    from shopwright.orders import cancellation  # imported on use, like expire_carts

    settings: Settings = current_app.extensions["shopwright.settings"]
    with current_app.extensions["shopwright.sessions"]() as session:
        cancelled = cancellation.cancel_unpaid_orders(
            session,
            current_app.extensions["shopwright.gateway"],
            timeout=timedelta(minutes=settings.ORDER_PAYMENT_TIMEOUT_MINUTES),
        )
    if cancelled:
        log.info("orders.unpaid_cancelled", orders=cancelled)
    return cancelled


@shared_task(name=RECONCILE_PAYMENTS)  # type: ignore[untyped-decorator]
def reconcile_payments() -> dict[str, int]:
    """Settle payments stuck `processing` with what the payment provider knows; return the counts."""
    from shopwright.orders import payment  # imported on use, like expire_carts

    with current_app.extensions["shopwright.sessions"]() as session:
        done = payment.reconcile_payments(session, current_app.extensions["shopwright.gateway"])
    if done.checked or done.refunds:
        log.info("payments.reconciled", checked=done.checked, settled=done.settled, refunds=done.refunds)
    return {"checked": done.checked, "settled": done.settled, "refunds": done.refunds}


@shared_task(name=PURGE_IDEMPOTENCY_KEYS)  # type: ignore[untyped-decorator]
def purge_idempotency_keys() -> int:
    """Delete idempotency keys past their retention (48 h); return the count."""
    from shopwright import idempotency

    with current_app.extensions["shopwright.sessions"]() as session:
        return idempotency.purge_keys(session)


@shared_task(name=PURGE_REVOKED_TOKENS)  # type: ignore[untyped-decorator]
def purge_revoked_tokens() -> int:
    """Delete revocation entries whose tokens have expired anyway; return the count."""
    from shopwright.accounts.revocation import DatabaseRevocations

    sessions = current_app.extensions["shopwright.sessions"]
    with sessions() as session, session.begin():
        return DatabaseRevocations(sessions).purge_expired(session)


@shared_task(name=PURGE_EVENTS)  # type: ignore[untyped-decorator]
def purge_events() -> int:
    """Delete outbox events delivered more than OUTBOX_RETENTION_DAYS ago; return the count."""
    retention = timedelta(days=current_app.extensions["shopwright.settings"].OUTBOX_RETENTION_DAYS)
    purged = purge_delivered(current_app.extensions["shopwright.sessions"], older_than=retention)
    if purged:
        log.info("events.purged", events=purged)
    return purged


@shared_task(name=SEND_EMAILS)  # type: ignore[untyped-decorator]
def send_emails() -> dict[str, int]:
    """Send the queued emails that are due (each at most once); return the counts."""
    from shopwright.notifications import subscriptions

    sent = subscriptions.send_emails(
        current_app.extensions["shopwright.sessions"], current_app.extensions["shopwright.email_sender"]
    )
    if sent.sent or sent.failed or sent.interrupted:
        log.info("emails.sent", sent=sent.sent, failed=sent.failed, interrupted=sent.interrupted)
    return {"sent": sent.sent, "failed": sent.failed, "interrupted": sent.interrupted}


@shared_task(name=DELIVER_WEBHOOKS)  # type: ignore[untyped-decorator]
def deliver_webhooks() -> dict[str, int]:
    """Send the webhook deliveries that are due; return the counts."""
    from shopwright.notifications import subscriptions

    done = subscriptions.deliver_webhooks(
        current_app.extensions["shopwright.sessions"], current_app.extensions["shopwright.settings"]
    )
    if done.succeeded or done.failed:
        log.info("webhooks.delivered", succeeded=done.succeeded, failed=done.failed)
    return {"succeeded": done.succeeded, "failed": done.failed}


def _keep_app_logging(**_kwargs: Any) -> None:
    # create_app() already routed every log record through structlog (LOG_LEVEL, LOG_JSON). A receiver
    # of this signal stops Celery from replacing the root handlers with its own plain-text format.
    return


setup_logging.connect(_keep_app_logging)


def _serve_metrics(sender: Any = None, **_kwargs: Any) -> None:
    # The worker's main process serves what its pool processes counted (emails, deliveries, carts).
    port = sender.app.conf.get("shopwright_metrics_port") if sender is not None else None
    if port:
        from shopwright import metrics

        metrics.serve_worker_metrics(int(port))
        log.info("metrics.serving", port=port)


def _forget_process(pid: int | None = None, **_kwargs: Any) -> None:
    from shopwright import serving

    serving.worker_exited(pid or os.getpid())


worker_init.connect(_serve_metrics)
worker_process_shutdown.connect(_forget_process)


def __getattr__(name: str) -> Any:
    # `celery -A shopwright.worker` reads the module's `celery` attribute: build it only then.
    if name == "celery":
        return _worker_celery()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _worker_celery() -> Celery:
    from shopwright.app import create_app  # imported on use: app.py may one day import this module

    celery_app = celery_init_app(create_app())
    if not celery_app.conf.task_always_eager:
        Path(BEAT_SCHEDULE_FILE).parent.mkdir(parents=True, exist_ok=True)
    return celery_app
