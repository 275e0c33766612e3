"""`make cluster-test`: start a small Shopwright cluster in network namespaces, check it, tear it down.

    sudo make cluster-test        # or, as root: .venv/bin/python -m cluster.run

Hosts (each a network namespace on the bridge swc-br0, subnet 10.77.0.0/24):
    lb 10.77.0.10       HAProxy, round robin over the app hosts, health check /api/health
    app1 10.77.0.21     gunicorn (2 workers x 4 threads)     DATABASE_URL -> db1, DATABASE_READ_URL -> db2
    app2 10.77.0.22     gunicorn (2 workers x 4 threads)
    worker 10.77.0.31   Celery worker with beat
    db1 10.77.0.11      PostgreSQL primary
    db2 10.77.0.12      PostgreSQL streaming replica (pg_basebackup -R)
    redis 10.77.0.13    Redis (revocation list, broker)
The load generator runs on the host (10.77.0.1) and talks only to the balancer and, to count
statements, to the two PostgreSQL servers. Every figure is printed at the end; the exit status is 0
only if every check held. Whatever happens (a failure, Ctrl-C, SIGTERM), everything started is removed;
a run killed outright leaves things behind that the next run removes first.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from cluster import checks
from cluster.load import Customer, call, expect, in_parallel, sign_up
from cluster.network import APP1, APP2, BRIDGE, HOSTS, SUBNET, WORKER, Network, check_free, run
from cluster.services import (
    Postgres,
    Process,
    app_settings,
    create_admin,
    create_primary,
    create_replica,
    healthy,
    migrate,
    server_states,
    start_app,
    start_balancer,
    start_redis,
    start_worker,
    wait_for,
)

STATE = Path(tempfile.gettempdir()) / "shopwright-cluster"
LOCK = Path(tempfile.gettempdir()) / "shopwright-cluster.lock"
KEPT_LOGS = Path(tempfile.gettempdir()) / "shopwright-cluster-logs"
BUYERS = 1_000
UNITS = 100
READ_YOUR_WRITES_CUSTOMERS = 50
KILL_CUSTOMERS = 300
# Debian packages for the commands the cluster needs; installed when missing (CI starts fresh).
PACKAGES = {"haproxy": "haproxy", "ip": "iproute2", "redis-server": "redis-server"}
ADMIN = ("ops@example.com", "Cluster-admin-1")


class Clock:
    """Prints each named step with the time since the start, and how long it took."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.started = time.monotonic()
        self.out = out

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        self._say(f"[{began - self.started:6.1f} s] {name} ... ")
        try:
            yield
        except BaseException:
            self._say("FAILED\n")
            raise
        self._say(f"done ({time.monotonic() - began:.1f} s)\n")

    def _say(self, text: str) -> None:
        # A closed output (`| head`) must not stop the steps, least of all the tear-down.
        with contextlib.suppress(OSError):
            self.out.write(text)
            self.out.flush()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Cluster:
    """The running cluster: its servers, and what the checks need from it (checks.Cluster)."""

    def __init__(self) -> None:
        self.network = Network(STATE / "network.json")
        self.processes: dict[str, Process] = {}
        self.databases: list[Postgres] = []
        self.settings: dict[str, str] = {}
        self.admin = ""
        self._category: int | None = None

    @property
    def primary(self) -> Postgres:
        return self.databases[0]

    @property
    def replica(self) -> Postgres:
        return self.databases[1]

    def product(self, name: str, stock: int, price_cents: int = 2_500) -> dict[str, Any]:
        """Create a product through the balancer, as the admin."""
        if self._category is None:
            category = call("POST", "/api/categories", {"name": "Cluster"}, self.admin)
            self._category = expect(category, 201, "create a category")["id"]
        body = {
            "name": name,
            "category_id": self._category,
            "sku": name.upper().replace(" ", "-"),
            "price_cents": price_cents,
            "stock_quantity": stock,
        }
        created: dict[str, Any] = expect(
            call("POST", "/api/products", body, self.admin), 201, "create a product"
        )
        return created

    def balancer_view(self) -> dict[str, str]:
        return server_states(STATE)

    def restart_app1(self) -> None:
        self.processes["app1"] = start_app(APP1, self.settings, STATE)
        wait_for("app1 back in rotation", lambda: self.balancer_view().get("app1") == "UP")

    def tear_down(self) -> None:
        """Stop every server, then delete the namespaces (killing anything left in them) and the bridge."""
        for name in ("haproxy", "app1", "app2", "worker", "redis"):
            if name in self.processes:
                self.processes[name].stop()
        for database in self.databases:
            with contextlib.suppress(RuntimeError):
                database.stop(mode="immediate")
        self.network.remove()


def main() -> int:
    if os.geteuid() != 0:
        print("The cluster test needs root (network namespaces, PostgreSQL as the postgres user).")
        return 2
    with LOCK.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"Another cluster test is running (it holds {LOCK}).")
            return 2
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            return _run(Clock())
        except KeyboardInterrupt:
            print("\nInterrupted; everything the run started has been removed.")
            return 130


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(clock: Clock) -> int:
    results: list[checks.Result] = []
    cluster = Cluster()
    succeeded = False
    print(f"Shopwright cluster test: {len(HOSTS)} hosts in network namespaces on {BRIDGE} ({SUBNET})")
    try:
        with clock.step("Remove what an earlier run that was killed left behind"):
            _remove_leftovers()
        with clock.step("Install what is missing from Debian"):
            _install_missing()
        with clock.step(f"Check that {SUBNET}, the bridge {BRIDGE} and the namespace names are unused"):
            check_free()
        STATE.mkdir(mode=0o755)
        _start(cluster, clock)
        customers = _sign_up(cluster, clock)
        results = _check(cluster, clock, customers)
        succeeded = all(not result.failures for result in results)
    finally:
        if not succeeded or os.environ.get("CLUSTER_KEEP_LOGS"):
            _keep_logs()
        with clock.step("Tear down: stop every server, delete the namespaces and the bridge"):
            cluster.tear_down()
            shutil.rmtree(STATE, ignore_errors=True)
    _print(results, clock.elapsed)
    return 0 if succeeded else 1


def _start(cluster: Cluster, clock: Clock) -> None:
    with clock.step("Create the bridge and one namespace per host"):
        cluster.network.create()
    with clock.step("Start the PostgreSQL primary on db1"):
        cluster.databases.append(create_primary(STATE / "db1"))
    with clock.step("Migrate the shop's database on the primary (flask db upgrade)"):
        migrate(cluster.primary)
    with clock.step("Create the admin (flask create-admin)"):
        create_admin(cluster.primary, *ADMIN)
    with clock.step("Clone the streaming replica on db2 (pg_basebackup -R) and start it"):
        cluster.databases.append(create_replica(cluster.primary, STATE / "db2"))
    with clock.step("Start Redis on redis"):
        cluster.processes["redis"] = start_redis(STATE / "redis")
    cluster.settings = app_settings(cluster.primary, cluster.replica, STATE)
    with clock.step("Start gunicorn on app1 and app2"):
        for host in (APP1, APP2):
            cluster.processes[host.name] = start_app(host, cluster.settings, STATE, wait=False)
        for host in (APP1, APP2):
            wait_for(f"{host.name} health", functools.partial(healthy, host))
    with clock.step("Start the Celery worker (with beat) on worker"):
        cluster.processes["worker"] = start_worker(WORKER, cluster.settings, STATE)
    with clock.step("Start HAProxy on lb and wait for both app hosts UP"):
        cluster.processes["haproxy"] = start_balancer(STATE)


def _sign_up(cluster: Cluster, clock: Clock) -> list[Customer]:
    cluster.admin = _admin_token()
    with clock.step(f"Sign up {BUYERS:,} customers through the balancer"):
        return in_parallel(sign_up, [f"buyer{n}@example.com" for n in range(BUYERS)], threads=32)


def _admin_token() -> str:
    reply = call("POST", "/api/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
    return str(expect(reply, 200, "admin login")["access_token"])


def _check(cluster: Cluster, clock: Clock, customers: list[Customer]) -> list[checks.Result]:
    results = []
    with clock.step(f"Check: {BUYERS:,} buyers race for {UNITS} units"):
        results.append(checks.race(cluster, customers, UNITS))
    product_ids = [item["id"] for item in call("GET", "/api/products?limit=100").body["items"]]
    with clock.step("Check: catalog reads go to the replica"):
        results.append(checks.reads_go_to_the_replica(cluster, product_ids))
    losers = customers[UNITS:]  # they bought nothing in the race
    with clock.step("Check: customers read their own cart and order with the replica behind"):
        results.append(checks.read_your_writes(cluster, losers[:READ_YOUR_WRITES_CUSTOMERS]))
    with clock.step("Check: app1 killed (SIGKILL) in the middle of checkouts"):
        tail = losers[READ_YOUR_WRITES_CUSTOMERS : READ_YOUR_WRITES_CUSTOMERS + KILL_CUSTOMERS]
        results.append(checks.app_host_killed(cluster, tail))
    with clock.step("Check: the replica stopped and started again"):
        results.append(checks.replica_stopped(cluster, product_ids))
    with clock.step("Check: the worker host delivered the outbox"):
        results.append(checks.outbox_delivered(cluster))
    return results


def _remove_leftovers() -> None:
    """Stop what a run that was killed left running (all of it in its namespaces), delete its files."""
    if not STATE.exists():
        return
    Network(STATE / "network.json").remove()
    shutil.rmtree(STATE)


def _install_missing() -> None:
    missing = [package for command, package in PACKAGES.items() if shutil.which(command) is None]
    if not missing:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        run("apt-get", "update")
        subprocess.run(install, env=env, capture_output=True, check=True)


def _keep_logs() -> None:
    """Copy the servers' logs out of the state folder before it is deleted (for a failed run)."""
    if not STATE.exists():
        return
    shutil.rmtree(KEPT_LOGS, ignore_errors=True)
    for log in STATE.glob("**/*.log"):
        target = KEPT_LOGS / log.relative_to(STATE)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, target)
    print(f"\nServer logs kept in {KEPT_LOGS}")


def _print(results: list[checks.Result], seconds: float) -> None:
    print("\nFigures")
    for result in results:
        print(f"\n  {result.title}: {'FAILED' if result.failures else 'ok'}")
        for label, value in result.figures:
            print(f"    {label} {'.' * max(2, 56 - len(label))} {value}")
        for failure in result.failures:
            print(f"    FAILED: {failure}")
    print(f"\nCluster test took {seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
