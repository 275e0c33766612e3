"""Serving with gunicorn: the errors gunicorn answers itself, before the app sees a request (a request
line over `limit_request_line`, too many or too large headers, a malformed request), are problem+json
like every other error of the API, not gunicorn's HTML page. gunicorn.conf.py installs it in each worker.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gunicorn import util  # type: ignore[import-untyped]

from shopwright.errors import PROBLEM_MEDIA_TYPE, problem, problem_for_http

_DETAIL_LENGTH = 200  # gunicorn's message may quote the request: keep it short


def answer_errors_as_problems() -> None:
    """Make gunicorn write its own error answers as problem+json (it calls util.write_error for them)."""
    util.write_error = write_problem


def write_problem(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Write a problem+json error answer on a client socket and let gunicorn close the connection."""
    if status_int >= 500:  # as the app's own 500: nothing about the cause
        body = problem(500, "internal_error", "Internal server error", "Something went wrong on our side")
    else:
        body = problem_for_http(status_int, (mesg or reason)[:_DETAIL_LENGTH])
    data = json.dumps(body, separators=(",", ":")).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"Content-Length: {len(data)}\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        "Cache-Control: no-store\r\n"
        "\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + data)


def reset_metrics_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR before any worker starts (a previous run's samples would add up).

    Called by gunicorn's master (`on_starting`); without the variable there is nothing to do.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for leftover in path.glob("*.db"):
        leftover.unlink()


def worker_exited(pid: int) -> None:
    """Tell the metrics that a gunicorn worker is gone (its live gauges stop counting; counters stay)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from shopwright import metrics  # imported on use: the master needs it only in multiprocess mode

        metrics.mark_process_dead(pid)
