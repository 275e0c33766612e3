"""schemathesis hooks of `make contract` (loaded through SCHEMATHESIS_HOOKS by tests/contract/run.py).

A fuzzing role logs in as its own throwaway account, made for the run. The run calls every operation
with that token, including the ones that end it (logout, change-password, DELETE /api/auth/me, an admin
deactivating itself). On a 401 schemathesis asks for a token again: log in once more, or, when the
account can no longer log in, make a fresh one of the same role and go on with it.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
import uuid
from typing import Any

import schemathesis

BASE_URL = os.environ.get("CONTRACT_BASE_URL", "")
ROLE = os.environ.get("CONTRACT_ROLE", "anonymous")
PASSWORD = os.environ.get("CONTRACT_PASSWORD", "")


def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """POST a JSON body to the server under test; return (status, parsed body)."""
    request = urllib.request.Request(
        f"{BASE_URL}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def login(email: str) -> str | None:
    """Return an access token, or None when the account can no longer log in."""
    status, body = post("/api/auth/login", {"email": email, "password": PASSWORD})
    if status == 401:
        return None
    if status != 200:
        raise RuntimeError(f"login answered {status}: {body}")
    return str(body["access_token"])


def new_account() -> str:
    """Make a fresh account of this role; return its email."""
    email = f"{ROLE}-{uuid.uuid4().hex[:12]}@example.com"
    if ROLE == "admin":
        # There is no API to make an admin: the same path as `flask create-admin`.
        from shopwright.accounts import passwords
        from shopwright.accounts.seed import ensure_admin
        from shopwright.db import make_engine, make_sessionmaker

        passwords.configure(time_cost=1, memory_kib=1024)
        engine = make_engine(os.environ["CONTRACT_DATABASE_URL"], pool_size=1)
        with make_sessionmaker(engine)() as session:
            ensure_admin(session, email, PASSWORD)
        engine.dispose()
    else:
        status, body = post("/api/auth/register", {"email": email, "password": PASSWORD})
        if status != 201:
            raise RuntimeError(f"register answered {status}: {body}")
    return email


if ROLE != "anonymous":

    @schemathesis.auth(refresh_interval=600)  # a 401 answer also makes schemathesis call get() again
    class RoleAccount:
        """The role's seeded account, then fresh ones once the run has ended the current one."""

        def __init__(self) -> None:
            self._lock = threading.Lock()
            self._email = os.environ["CONTRACT_EMAIL"]

        def get(self, case: Any, context: Any) -> str:
            with self._lock:
                token = login(self._email)
                if token is None:
                    self._email = new_account()
                    token = login(self._email)
                if token is None:
                    raise RuntimeError(f"a fresh {ROLE} account cannot log in")
                return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
