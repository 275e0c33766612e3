"""The load generator's side: HTTP calls through the balancer, and customers who shop with them."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from cluster.network import BALANCER
from cluster.services import LB_PORT

T = TypeVar("T")
R = TypeVar("R")
PASSWORD = "Cluster-pass-1"
ADDRESS = "1 Main Street, Springfield 12345, US"


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange through the balancer. `status` 0: no HTTP answer at all (connection failed)."""

    status: int
    body: Any
    served_by: str | None
    started: float
    ended: float

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) and self.status >= 400 else None


def call(method: str, path: str, body: Any = None, token: str | None = None, key: str | None = None) -> Reply:
    """Send one request to the balancer (a new connection each time, as separate clients would)."""
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if key:
        headers["Idempotency-Key"] = key
    started = time.monotonic()
    conn = http.client.HTTPConnection(BALANCER.address, LB_PORT, timeout=60)
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = conn.getresponse()
        raw = response.read()
        served_by = response.getheader("X-Served-By")
        status = response.status
    except (OSError, http.client.HTTPException) as error:
        return Reply(0, {"error": type(error).__name__}, None, started, time.monotonic())
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")[:200]  # the balancer's own error pages are HTML
    return Reply(status, parsed, served_by, started, time.monotonic())


def expect(reply: Reply, status: int, what: str) -> Any:
    """Return the body of a reply that must have this status (set-up steps), or raise."""
    if reply.status != status:
        raise RuntimeError(f"{what}: expected {status}, got {reply.status} {reply.body}")
    return reply.body


def in_parallel(function: Callable[[T], R], items: Iterable[T], threads: int) -> list[R]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(function, items))


@dataclass(frozen=True)
class Customer:
    email: str
    token: str


def sign_up(email: str) -> Customer:
    """Register and log in through the balancer."""
    expect(call("POST", "/api/auth/register", {"email": email, "password": PASSWORD}), 201, "register")
    tokens = expect(call("POST", "/api/auth/login", {"email": email, "password": PASSWORD}), 200, "login")
    return Customer(email, tokens["access_token"])
