"""Servers the end-to-end and fault tests run: the app under gunicorn, a Celery worker, and throwaway
PostgreSQL, Redis and SMTP servers that a test may stop and start (fixtures: tests/e2e/conftest.py and
tests/faults/conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from aiosmtpd.controller import Controller

from tests.conftest import TEST_SECRET, Mailbox, free_port

ROOT = Path(__file__).resolve().parents[2]
# PostgreSQL refuses to run as root: its tools then run as the `postgres` user.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@dataclass
class LiveServer:
    base_url: str

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Send one HTTP request and return (status, JSON body)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw) if raw else {}

    def login(self, email: str, password: str) -> str:
        """Log in over HTTP and return the access token (the login must succeed)."""
        status, tokens = self.request("POST", "/api/auth/login", {"email": email, "password": password})
        assert status == 200, tokens
        return str(tokens["access_token"])


@contextmanager
def serve(
    postgresql_url: str,
    redis_url: str,
    smtp_server: tuple[str, int, Mailbox],
    *,
    workers: int,
    settings: dict[str, str] | None = None,
) -> Iterator[LiveServer]:
    """Run gunicorn (gthread, 4 threads per worker) on the test databases until the block ends.

    `settings`: more environment variables for the app, or other values for those set here.
    """
    port = free_port()
    host, smtp_port, _ = smtp_server
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": postgresql_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": TEST_SECRET,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "RATE_LIMIT_ENABLED": "false",
        "EMAIL_BACKEND": "smtp",
        "SMTP_HOST": host,
        "SMTP_PORT": str(smtp_port),
        "LOG_LEVEL": "WARNING",
        **(settings or {}),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "shopwright:create_app()",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        "4",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    server = LiveServer(f"http://127.0.0.1:{port}")
    try:
        _wait_until_healthy(server, process)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def _wait_until_healthy(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if server.request("GET", "/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become healthy in 30 s")


@contextmanager
def celery_worker(
    directory: Path, settings: dict[str, str]
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """Run `celery -A shopwright.worker worker --beat` in `directory` until the block ends.

    `settings` is the app's environment (database, broker, email); beat sends every task each second.
    Yields the process and the file its output goes to.
    """
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": TEST_SECRET,
        "CELERY_DELIVER_EVENTS_INTERVAL_SECONDS": "1",
        "CELERY_EXPIRE_CARTS_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
        **settings,
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "shopwright.worker",
        "worker",
        "--beat",
        "--concurrency",
        "2",
        "--hostname",
        f"test-{uuid.uuid4().hex[:8]}@%h",
        # No chatter with other workers on this Redis (their test runs or a developer's worker).
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = directory / "worker.log"
    # The working directory holds beat's schedule file (instance/) and has no .env to read.
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=directory, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process, log
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # warm shutdown of the worker, its pool and beat
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster (fsync off) on 127.0.0.1:`port`, run as the postgres user."""

    bin: Path
    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg_ctl(self, *args: str) -> None:
        log = str(self.directory / "server.log")
        command = [*AS_POSTGRES, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, *args]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    @property
    def _options(self) -> str:
        return f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c fsync=off"

    def start(self) -> None:
        self._pg_ctl("-o", self._options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def ensure_running(self) -> None:
        """Start the cluster again if a test left it stopped."""
        status = [*AS_POSTGRES, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        if subprocess.run(status, check=False, capture_output=True).returncode != 0:
            self.start()

    def restart(self) -> None:
        """Stop (fast: sessions are terminated, transactions roll back) and start again; return when up."""
        self._pg_ctl("-m", "fast", "-o", self._options, "-w", "restart")


@dataclass
class RedisServer:
    """A redis-server of our own on 127.0.0.1:`port`, with an append-only file as in production."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--pidfile",
            str(self.directory / "redis.pid"),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--loglevel",
            "warning",
        ]
        with (self.directory / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """Shut the server down (SIGTERM: it writes its append-only file and exits)."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@dataclass
class SmtpServer:
    """An aiosmtpd server on a fixed port, which a test may stop and start again."""

    port: int
    mailbox: Mailbox = field(default_factory=Mailbox)
    controller: Controller | None = field(default=None, repr=False)

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
