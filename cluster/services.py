"""The cluster's servers, each started in its host's namespace: PostgreSQL primary and streaming replica,
Redis, gunicorn app hosts, a Celery worker host with beat, and HAProxy in front of the app hosts.

PostgreSQL runs as the `postgres` user (it refuses root), from files under the run's state folder, with
fsync off: this is a test of behaviour, not of durability.
"""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from cluster.network import APP1, APP2, BALANCER, PRIMARY, REDIS, REPLICA, SUBNET, Host, in_namespace, run

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "shopwright"
PG_PORT = 5432  # every host has its own network namespace: the usual ports are free in each
APP_PORT = 8000
LB_PORT = 80
AS_POSTGRES = ["runuser", "-u", "postgres", "--"]
READ_FALLBACK_SECONDS = 2  # the app hosts' DATABASE_READ_FALLBACK_SECONDS
PG_SETTINGS = {
    "fsync": "off",
    "max_connections": "200",  # two app hosts and a worker, each with write and read pools
    "shared_preload_libraries": "pg_stat_statements",  # counts statements per server (the read check)
}


def wait_for(what: str, ready: Callable[[], bool], timeout: float = 30.0) -> float:
    """Wait until `ready()` holds; return how long that took, or raise after `timeout` seconds."""
    started = time.monotonic()
    while True:
        try:
            if ready():
                return time.monotonic() - started
        except (OSError, http.client.HTTPException, psycopg.Error):
            pass
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what} not ready after {timeout:.0f} s")
        time.sleep(0.1)


def pg_bin() -> Path:
    """Return the folder of the newest installed PostgreSQL server binaries."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql (postgresql-15)")
    return found[-1].parent


class Postgres:
    """A PostgreSQL server of the cluster, on `host`:5432, its files in `directory`."""

    def __init__(self, host: Host, directory: Path) -> None:
        self.host = host
        self.directory = directory
        self.bin = pg_bin()

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def dsn(self, database: str = DATABASE) -> str:
        return f"postgresql://postgres@{self.host.address}:{PG_PORT}/{database}"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the shop's database on this server."""
        return f"postgresql+psycopg://postgres@{self.host.address}:{PG_PORT}/{DATABASE}"

    def query(self, sql: str, *params: Any, database: str = DATABASE) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn(database), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params or None)
            return list(cursor.fetchall()) if cursor.description else []

    def _pg_ctl(self, *args: str) -> None:
        log = str(self.directory / "server.log")
        command = [*AS_POSTGRES, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", log, *args]
        run(*in_namespace(self.host, *command))

    def start(self) -> None:
        options = [f"-c listen_addresses={self.host.address}", f"-p {PG_PORT}", f"-k {self.directory}"]
        options += [f"-c {name}={value}" for name, value in PG_SETTINGS.items()]
        self._pg_ctl("-o", " ".join(options), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    def make_directory(self) -> None:
        self.directory.mkdir(parents=True)
        shutil.chown(self.directory, "postgres", "postgres")


def create_primary(directory: Path) -> Postgres:
    """initdb, allow the subnet (trust: the subnet is private to this machine), start, create the database."""
    primary = Postgres(PRIMARY, directory)
    primary.make_directory()
    initdb = [
        str(primary.bin / "initdb"),
        "-D",
        str(primary.data),
        "--auth=trust",
        "--no-sync",
        "-U",
        "postgres",
    ]
    run(*AS_POSTGRES, *initdb, "-E", "UTF8")
    with (primary.data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all all {SUBNET} trust\nhost replication all {SUBNET} trust\n")
    primary.start()
    primary.query(f"CREATE DATABASE {DATABASE}", database="postgres")
    primary.query("CREATE EXTENSION pg_stat_statements")
    return primary


def create_replica(primary: Postgres, directory: Path) -> Postgres:
    """Clone the primary with `pg_basebackup -R` (a standby that streams from it) and start it."""
    replica = Postgres(REPLICA, directory)
    replica.make_directory()
    basebackup = [str(replica.bin / "pg_basebackup"), "-h", PRIMARY.address, "-p", str(PG_PORT)]
    basebackup += ["-U", "postgres", "-D", str(replica.data), "-R", "-X", "stream", "-c", "fast"]
    run(*in_namespace(REPLICA, *AS_POSTGRES, *basebackup))
    replica.start()
    wait_for("streaming replication", lambda: is_streaming(primary))
    return replica


def is_streaming(primary: Postgres) -> bool:
    rows = primary.query("SELECT state FROM pg_stat_replication", database="postgres")
    return rows == [("streaming",)]


def replica_caught_up(primary: Postgres, replica: Postgres) -> bool:
    """Tell whether the replica has replayed everything the primary has written so far."""
    [(lsn,)] = primary.query("SELECT pg_current_wal_lsn()::text", database="postgres")
    [(behind,)] = replica.query("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) > 0", lsn)
    return not behind


class Process:
    """A long-running server started by this script inside a namespace, with its output in a log file."""

    def __init__(self, name: str, host: Host, command: list[str], log: Path, **popen: Any) -> None:
        self.name = name
        self.host = host
        with log.open("ab") as output:
            self.process = subprocess.Popen(
                in_namespace(host, *command), stdout=output, stderr=subprocess.STDOUT, **popen
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_redis(directory: Path) -> Process:
    directory.mkdir(parents=True)
    command = ["redis-server", "--bind", REDIS.address, "--port", "6379", "--protected-mode", "no"]
    command += ["--dir", str(directory), "--save", "", "--appendonly", "no", "--loglevel", "warning"]
    redis = Process("redis", REDIS, command, directory / "redis.log")
    wait_for("redis", lambda: _tcp_open(REDIS.address, 6379))
    return redis


def app_settings(primary: Postgres, replica: Postgres, state: Path) -> dict[str, str]:
    """The environment of every app and worker host: one deployment, one SECRET_KEY."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PASSWORD_RESET_URL": "https://shop.example/reset-password?token={token}",
        "DATABASE_URL": primary.url,
        "DATABASE_READ_URL": replica.url,
        "DATABASE_POOL_SIZE": "5",
        "DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
        "DATABASE_READ_FALLBACK_SECONDS": str(READ_FALLBACK_SECONDS),
        "REDIS_URL": f"redis://{REDIS.address}:6379/0",
        "TRUSTED_PROXY_COUNT": "1",  # HAProxy adds X-Forwarded-For
        # One load generator registers a thousand customers from one address: no login limits, cheap
        # password hashing (argon2 at its production cost would make the set-up, not the test, the work).
        "RATE_LIMIT_ENABLED": "false",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        # The read checks count the statements each database runs: catalog answers must come from the
        # databases, not from the catalog cache (tests/api/test_catalog_cache.py tests the cache).
        "CATALOG_CACHE_ENABLED": "false",
        "EMAIL_BACKEND": "file",
        "EMAIL_OUTBOX_DIR": str(state / "outbox"),
        "CELERY_DELIVER_EVENTS_INTERVAL_SECONDS": "1",
        "CELERY_EXPIRE_CARTS_INTERVAL_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
    }


def _flask(primary: Postgres, *args: str) -> None:
    """Run a `flask` command of the app against the primary, from the host (it reaches the subnet)."""
    flask = str(Path(sys.executable).with_name("flask"))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": primary.url,
        "FLASK_APP": "shopwright:create_app",
        "LOG_LEVEL": "WARNING",
    }
    done = subprocess.run([flask, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"flask {args[0]} failed: {done.stderr[-2000:]}")


def migrate(primary: Postgres) -> None:
    _flask(primary, "db", "upgrade")


def create_admin(primary: Postgres, email: str, password: str) -> None:
    _flask(primary, "create-admin", "--email", email, "--password", password)


def start_app(host: Host, settings: dict[str, str], state: Path, *, wait: bool = True) -> Process:
    """gunicorn with two gthread workers of four threads on `host`:8000 (healthy, unless not `wait`)."""
    directory = state / host.name
    directory.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "gunicorn", "shopwright:create_app()"]
    command += ["--bind", f"{host.address}:{APP_PORT}", "--workers", "2", "--worker-class", "gthread"]
    command += ["--threads", "4", "--log-level", "warning"]
    # The working directory has no .env: the settings are exactly the environment given here.
    app = Process(host.name, host, command, directory / "gunicorn.log", cwd=directory, env=settings)
    if wait:
        wait_for(f"{host.name} health", lambda: healthy(host))
    return app


def start_worker(host: Host, settings: dict[str, str], state: Path) -> Process:
    """A Celery worker that also runs beat (the one beat of this deployment)."""
    directory = state / host.name
    directory.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "celery", "-A", "shopwright.worker", "worker", "--beat"]
    command += ["--concurrency", "2", "--hostname", f"worker@{host.name}"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    return Process("worker", host, command, directory / "celery.log", cwd=directory, env=settings)


HAPROXY_CONFIG = """\
global
    maxconn 4096
    stats socket {socket} mode 600 level admin
    log stdout format raw local0

defaults
    mode http
    log global
    option httplog
    option forwardfor
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    # Requests wait at the balancer for a free app thread rather than in gunicorn's backlog.
    timeout queue 60s
    # Resend only what never reached an app (a refused connection), and to another app host: a
    # request that did reach one may have done its work, and only the client can retry it safely
    # (with its Idempotency-Key).
    retries 3
    option redispatch 1

frontend shop
    bind {balancer}:{lb_port}
    default_backend apps

backend apps
    balance roundrobin
    option httpchk GET /api/health
    http-check expect status 200
    http-response set-header X-Served-By %s
    # A refused connection takes the host out of rotation at once, without waiting for the next checks;
    # at most as many requests per host as it has threads (2 workers x 4), the rest wait here.
    default-server inter 500ms fall 2 rise 2 maxconn 8 observe layer4 error-limit 1 on-error mark-down
    server app1 {app1}:{app_port} check
    server app2 {app2}:{app_port} check
"""


def start_balancer(state: Path) -> Process:
    """HAProxy on the balancer host, round robin over both app hosts, health-checking /api/health."""
    if shutil.which("haproxy") is None:
        raise RuntimeError("haproxy is not installed")
    config = state / "haproxy.cfg"
    config.write_text(
        HAPROXY_CONFIG.format(
            socket=state / "haproxy.sock",
            balancer=BALANCER.address,
            lb_port=LB_PORT,
            app1=APP1.address,
            app2=APP2.address,
            app_port=APP_PORT,
        )
    )
    balancer = Process("haproxy", BALANCER, ["haproxy", "-db", "-f", str(config)], state / "haproxy.log")
    wait_for("haproxy", lambda: server_states(state) == {"app1": "UP", "app2": "UP"})
    return balancer


def server_states(state: Path) -> dict[str, str]:
    """Return HAProxy's view of each app host (UP, DOWN, ...), from its stats socket."""
    with socket.socket(socket.AF_UNIX) as stats:
        stats.connect(str(state / "haproxy.sock"))
        stats.sendall(b"show stat\n")
        answer = b""
        while chunk := stats.recv(65536):
            answer += chunk
    lines = answer.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    rows = [dict(zip(header, line.split(","), strict=False)) for line in lines[1:] if line]
    return {row["svname"]: row["status"].split()[0] for row in rows if row["svname"] in ("app1", "app2")}


def healthy(host: Host) -> bool:
    """Tell whether the app on `host` answers its health check with 200."""
    conn = http.client.HTTPConnection(host.address, APP_PORT, timeout=2)
    try:
        conn.request("GET", "/api/health")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def _tcp_open(address: str, port: int) -> bool:
    with socket.create_connection((address, port), timeout=1):
        return True
