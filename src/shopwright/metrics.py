"""Prometheus metrics: HTTP requests by route template, business counters, and the scrape's own gauges.

Under gunicorn every worker process writes its samples into PROMETHEUS_MULTIPROC_DIR (prometheus-client's
multiprocess mode; gunicorn.conf.py empties it at start and marks dead workers), and a scrape of any
worker adds them all up. Without the variable each process counts on its own (one process: exact).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, start_http_server
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Label values are bounded: the route *template* (`/api/orders/<int:order_id>`), never the raw path.
REQUEST_DURATION = Histogram(
    "shopwright_http_request_duration_seconds",
    "Time to answer an HTTP request; _count is the request count",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ORDERS_PLACED = Counter("shopwright_orders_placed_total", "Orders placed (checkouts that committed)")
PAYMENTS = Counter("shopwright_payments_total", "Payment attempts by outcome", ["outcome"])
REFUNDS = Counter("shopwright_refunds_total", "Refunds by outcome", ["outcome"])
CARTS_EXPIRED = Counter("shopwright_carts_expired_total", "Carts expired by the sweep, their stock released")
WEBHOOK_DELIVERIES = Counter(
    "shopwright_webhook_deliveries_total", "Webhook delivery tries by outcome", ["outcome"]
)
EMAILS = Counter("shopwright_emails_total", "Email sends by outcome", ["outcome"])

# Returns (pending outbox events, age in seconds of the oldest one or 0).
BacklogReader = Callable[[], tuple[int, float]]


class _Backlog(Collector):
    """The outbox gauges, read from the database when scraped (one cheap query)."""

    def __init__(self, read: BacklogReader) -> None:
        self.read = read

    def collect(self) -> Iterable[Metric]:
        pending, oldest_age = self.read()
        yield GaugeMetricFamily(
            "shopwright_outbox_pending_events", "Outbox events not delivered yet", pending
        )
        yield GaugeMetricFamily(
            "shopwright_outbox_oldest_pending_seconds",
            "Age of the oldest undelivered outbox event",
            oldest_age,
        )


def exposition(read_backlog: BacklogReader) -> bytes:
    """Return every metric in the Prometheus text format (all worker processes in multiprocess mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in list(REGISTRY._collector_to_names):
            registry.register(collector)
    registry.register(_Backlog(read_backlog))
    return generate_latest(registry)


def serve_worker_metrics(port: int) -> None:
    """Serve this host's worker processes' metrics over HTTP on `port` (a Celery worker's main process)."""
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    start_http_server(port, registry=registry)


def mark_process_dead(pid: int) -> None:
    """Let a dead gunicorn worker's live gauges go (its counters stay summed in)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
