"""Servers of our own that the fault tests stop and start: a PostgreSQL cluster, Redis, SMTP.

The machine's PostgreSQL and Redis are shared with other test runs and are never stopped: every server
a fault test takes down is started here, on a free port, with its files under FAULTS_ROOT/<pid of this
run>. A run that crashed leaves its servers behind; the next run stops them and deletes their files.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart.models import CONVERTED, Cart
from shopwright.db import make_sessionmaker
from shopwright.inventory.models import StockLevel
from shopwright.orders.models import Order, OrderItem
from tests.cart_factories import reserved_in_active_carts
from tests.conftest import Mailbox, _migrate, _unavailable, engine_for, free_port, truncate_all

FAULTS_ROOT = Path(tempfile.gettempdir()) / "shopwright-faults"
# PostgreSQL refuses to run as root: its tools then run as the `postgres` user.
AS_POSTGRES = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_bin() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_leftovers(pg_bin: Path | None) -> None:
    """Stop the servers of fault-test runs that died without cleaning up, and delete their files."""
    if not FAULTS_ROOT.exists():
        return
    for run_dir in FAULTS_ROOT.iterdir():
        if not run_dir.name.isdigit() or _alive(int(run_dir.name)):
            continue
        data = run_dir / "pg" / "data"
        if pg_bin is not None and (data / "postmaster.pid").exists():
            stop = [*AS_POSTGRES, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
            subprocess.run(stop, check=False, capture_output=True)
        for pidfile in run_dir.glob("redis-*/redis.pid"):
            _kill_redis(pidfile)
        shutil.rmtree(run_dir, ignore_errors=True)


def _kill_redis(pidfile: Path) -> None:
    try:
        pid = int(pidfile.read_text().strip())
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if b"redis-server" in command:  # the pid is still our server's, not a recycled one
        os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def faults_dir() -> Iterator[Path]:
    """This run's folder for server files, after the leftovers of crashed runs are cleaned up."""
    _remove_leftovers(_pg_bin())
    directory = FAULTS_ROOT / str(os.getpid())
    directory.mkdir(parents=True, exist_ok=True)
    FAULTS_ROOT.chmod(0o755)  # the postgres user must reach its data folder below
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# --- PostgreSQL ---------------------------------------------------------------------------------
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


@pytest.fixture(scope="session")
def pg_cluster(faults_dir: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this run's own, which tests may stop and restart."""
    pg_bin = _pg_bin()
    if pg_bin is None or (AS_POSTGRES and shutil.which("runuser") is None):
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl)")
    assert pg_bin is not None
    directory = faults_dir / "pg"
    directory.mkdir()
    if AS_POSTGRES:
        shutil.chown(directory, "postgres", "postgres")
    initdb = [str(pg_bin / "initdb"), "-D", str(directory / "data"), "--auth=trust", "--no-sync"]
    subprocess.run([*AS_POSTGRES, *initdb, "-U", "postgres", "-E", "UTF8"], check=True, capture_output=True)
    cluster = PostgresCluster(pg_bin, directory, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            [*AS_POSTGRES, str(pg_bin / "pg_ctl"), "-D", str(cluster.data), "-m", "immediate", "stop"],
            check=False,
            capture_output=True,
        )


@pytest.fixture(scope="session")
def fault_database(pg_cluster: PostgresCluster) -> str:
    """A migrated database on the throwaway cluster; its URL."""
    with psycopg.connect(pg_cluster.url("postgres").replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("CREATE DATABASE shop")
    url = pg_cluster.url("shop")
    _migrate(url)
    return url


@pytest.fixture
def fault_sessions(pg_cluster: PostgresCluster, fault_database: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the throwaway database for arranging and checking; it is emptied after the test."""
    engine = engine_for(fault_database)
    yield make_sessionmaker(engine)
    pg_cluster.ensure_running()
    engine.dispose()  # connections from before a restart are dead
    truncate_all(engine)


def assert_orders_whole_and_stock_agrees(
    sessions: sessionmaker[Session], variant_id: int, stocked: int
) -> tuple[int, int]:
    """Assert every order is whole and the variant's stock matches orders and carts; return (orders, sold)."""
    with sessions() as session:
        orders = session.execute(
            select(
                Order.id, Order.subtotal_cents, func.count(OrderItem.id), func.sum(OrderItem.line_total_cents)
            )
            .outerjoin(OrderItem, OrderItem.order_id == Order.id)
            .group_by(Order.id)
        ).all()
        for order_id, subtotal, lines, line_totals in orders:
            assert lines >= 1, f"order {order_id} has no lines"
            assert line_totals == subtotal, f"order {order_id}'s lines do not add up to its subtotal"
        sold = session.scalar(
            select(func.coalesce(func.sum(OrderItem.quantity), 0)).where(OrderItem.variant_id == variant_id)
        )
        converted = session.scalar(select(func.count()).select_from(Cart).where(Cart.status == CONVERTED))
        level = session.get(StockLevel, variant_id)
        assert level is not None
        held = reserved_in_active_carts(session).get(variant_id, 0)
    assert converted == len(orders), "every converted cart has its order, and no order lacks its cart"
    assert (level.quantity, level.reserved) == (stocked - sold, held)
    return len(orders), int(sold or 0)


def without_hanging(
    call: Callable[[], Any], timeout: float, on_timeout: Callable[[], None]
) -> tuple[Any, float]:
    """Run `call` in a thread; return its result and duration, or fail (after `on_timeout`) if it hangs."""
    result: list[Any] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        on_timeout()  # let the stuck call end, so the thread does too
        thread.join(30)
        pytest.fail(f"the request was still waiting after {timeout:.0f} s")
    return result[0], time.monotonic() - started


# --- Redis --------------------------------------------------------------------------------------
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


@pytest.fixture
def redis_server(faults_dir: Path) -> Iterator[RedisServer]:
    """A running Redis of this test's own, which the test may stop and start again."""
    if shutil.which("redis-server") is None:
        _unavailable("redis-server")
    port = free_port()
    directory = faults_dir / f"redis-{port}"
    directory.mkdir()
    server = RedisServer(directory, port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- SMTP ---------------------------------------------------------------------------------------
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


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A stopped SMTP server on a free port (tests start it)."""
    server = SmtpServer(free_port())
    try:
        yield server
    finally:
        server.stop()
