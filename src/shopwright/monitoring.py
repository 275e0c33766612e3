"""GET /metrics and the per-request timing behind it (the Flask side of shopwright.metrics)."""

from __future__ import annotations

import hmac
import time
from datetime import datetime
from typing import Any

from flask import Response, g, request
from flask_openapi import OpenAPI, Tag
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright import metrics
from shopwright.db import utcnow
from shopwright.errors import as_response, problem
from shopwright.openapi import text_answer
from shopwright.outbox import Event


def init_metrics(app: OpenAPI, sessions: sessionmaker[Session], token: str | None, tag: Tag) -> None:
    """Time every request by route template and status, and serve GET /metrics."""
    app.after_request(_observe)  # timed from g.started, set by the app's first before_request hook
    expected = token.encode() if token else None

    def read_backlog() -> tuple[int, float]:
        with sessions() as session:
            return _backlog(session)

    @app.get(
        "/metrics",
        summary="Prometheus metrics (text format); a Bearer METRICS_TOKEN when one is set",
        operation_id="getMetrics",
        tags=[tag],
        responses={200: text_answer("text/plain", "Prometheus text exposition format 0.0.4")},
    )
    def prometheus_metrics() -> Any:
        if expected is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").encode()
            if not hmac.compare_digest(given, expected):  # constant time: the token is not guessed bytewise
                body = problem(401, "unauthorized", "Authentication required", "A metrics token is required")
                return as_response(body, {"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(metrics.exposition(read_backlog), content_type=metrics.CONTENT_TYPE)


def _observe(response: Response) -> Response:
    started = g.get("started")
    if started is not None:
        rule = request.url_rule
        # The template, never the raw path: label values stay few whatever URLs clients send.
        key = (request.method, rule.rule if rule is not None else "unmatched", response.status_code)
        series = _series.get(key)
        if series is None:  # labels() costs about as much as the observation: look it up once per key
            series = _series[key] = metrics.REQUEST_DURATION.labels(key[0], key[1], str(key[2]))
        series.observe(time.perf_counter() - started)
    return response


_series: dict[tuple[str, str, int], Any] = {}


def _backlog(session: Session) -> tuple[int, float]:
    pending, oldest = session.execute(
        select(func.count(), func.min(Event.created_at)).where(
            Event.delivered_at.is_(None), Event.failed_at.is_(None)
        )
    ).one()
    age = (utcnow() - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return int(pending), max(age, 0.0)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)
