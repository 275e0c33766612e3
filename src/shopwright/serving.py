"""Serving with gunicorn: the errors gunicorn answers itself, before the app sees a request (a request
line over `limit_request_line`, too many or too large headers, a malformed request), are problem+json
like every other error of the API, not gunicorn's HTML page. gunicorn.conf.py installs it in each worker.
"""

from __future__ import annotations

import json
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
