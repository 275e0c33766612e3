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
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import make_sessionmaker
from tests.conftest import _migrate, _unavailable, engine_for, free_port, truncate_all
from tests.support.servers import AS_POSTGRES, PostgresCluster, RedisServer, SmtpServer

FAULTS_ROOT = Path(tempfile.gettempdir()) / "shopwright-faults"


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


# --- Redis --------------------------------------------------------------------------------------
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
@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A stopped SMTP server on a free port (tests start it)."""
    server = SmtpServer(free_port())
    try:
        yield server
    finally:
        server.stop()
