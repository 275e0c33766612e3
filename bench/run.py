"""Load benchmark: wrk against Shopwright under gunicorn, side by side with a raw WSGI baseline.

    python bench/run.py [--scenario NAME|all] [--duration 10] [--connections 16] [--rounds 1]

Creates a fresh PostgreSQL database, migrates and seeds it (bench/scenarios.py), serves Shopwright and
bench/baseline.py with the same gunicorn settings, checks both answer the same (GET: 200 and the same
body), warms each up, runs wrk against each in turn (never both at once), prints a table with the ratio
Shopwright / baseline and writes bench/results/<scenario>.json. Servers, the database and the bench
keys in Redis are cleaned up. `--scenario all` runs every scenario, each on a fresh database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import redis
from alembic import command
from psycopg import sql
from psycopg._connection_base import BaseConnection
from scenarios import SCENARIOS, Call, Context, Scenario, http_json
from werkzeug.test import Client

from shopwright.cli import alembic_config
from shopwright.config import Settings
from shopwright.db import make_engine, make_sessionmaker

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Created and dropped by every run: give concurrent runs (two engineers on one machine) different names.
DATABASE_NAME = os.environ.get("BENCH_DATABASE", "shopwright_bench")
DATABASE_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE_NAME}"
LIBPQ_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE_NAME}"
REDIS_URL = "redis://127.0.0.1:6379/14"  # the tests use index 15
REDIS_KEY_PREFIX = "shopwright-bench"  # every key the servers write; deleted before and after a run
GUNICORN_WORKERS = 2
GUNICORN_ARGS = ["--workers", str(GUNICORN_WORKERS), "--worker-class", "gthread", "--threads", "4"]
WRK_THREADS = 2
WARMUP_SECONDS = 2
SECRET_KEY = secrets.token_urlsafe(48)  # one per bench process: the baseline counted in-process reads it once


# --- HTTP and processes ---------------------------------------------------------------------------
def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server(NamedTuple):
    url: str
    pgid: int  # gunicorn's arbiter leads the process group of its workers


@contextmanager
def gunicorn(
    name: str, app: str, env: dict[str, str], extra: list[str], connections: int
) -> Iterator[Server]:
    """Serve `app` with gunicorn on a free port in its own process group until the block ends.

    Each worker takes at most its share of wrk's keep-alive connections (`--worker-connections`):
    otherwise the workers' accept race decides the split once, at wrk's start, and a run that lands
    12 of 16 connections on one worker leaves a core idle (the req/s ratio swung 24-86 % on that alone).
    """
    port = free_port()
    command_line = [sys.executable, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", *GUNICORN_ARGS]
    command_line += ["--worker-connections", str(-(-connections // GUNICORN_WORKERS))]
    command_line += ["--log-level", "warning", "--graceful-timeout", "5", *extra]
    process = subprocess.Popen(command_line, cwd=ROOT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(name, url, process)
        yield Server(url, process.pid)
    finally:
        _stop(process)


def _wait_until_listening(name: str, url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name}: gunicorn exited with {process.returncode}")
        try:
            http_json(url + "/", {})  # any HTTP answer (404 included) means a worker is serving
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{name}: gunicorn did not answer within 30 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a gunicorn arbiter and its workers (its whole process group)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


# --- database and redis -------------------------------------------------------------------------
@contextmanager
def bench_database(name: str = DATABASE_NAME) -> Iterator[None]:
    """Create a fresh, migrated bench database; drop it at the end."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    _admin(drop)
    _admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        command.upgrade(alembic_config(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"), "head")
        yield
    finally:
        _admin(drop)


def _admin(statement: sql.Composed) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def bench_redis(url: str = REDIS_URL, prefix: str = REDIS_KEY_PREFIX) -> Iterator[None]:
    """Start and end without bench keys in Redis (no stale revocations from an earlier run)."""
    client = redis.Redis.from_url(url)

    def clean() -> None:
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            client.delete(key)

    clean()
    try:
        yield
    finally:
        clean()
        client.close()


# --- wrk and CPU accounting -------------------------------------------------------------------
_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def wrk(
    url: str,
    headers: dict[str, str],
    connections: int,
    seconds: int,
    server_pgid: int,
    script: list[str] | None = None,
) -> dict[str, Any]:
    """Run wrk; return req/s, p50/p99 in ms, counts, and where the CPU went (µs per request)."""
    threads = min(WRK_THREADS, connections)
    command_line = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        command_line += ["-H", f"{key}: {value}"]
    if script:  # a Lua script path and its arguments, after the thread count
        command_line += ["-s", script[0], url, "--", str(threads), *script[1:]]
    else:
        command_line.append(url)
    before = cpu_snapshot(server_pgid)
    result = subprocess.run(command_line, capture_output=True, text=True, check=True)
    after = cpu_snapshot(server_pgid)
    numbers = parse_wrk(result.stdout)
    spent = {key: after[key] - before[key] for key in before}
    idle, steal = spent.pop("idle"), spent.pop("steal")
    spent["other"] = spent.pop("machine") - sum(spent.values())  # other work on the machine, kernel
    spent.update(
        idle=idle, steal=steal
    )  # CPU nobody here used: the load did not saturate, or the host took it
    requests = max(numbers["requests"], 1)
    numbers["cpu_us_per_request"] = {key: round(value / requests * 1e6) for key, value in spent.items()}
    return numbers


def cpu_snapshot(server_pgid: int) -> dict[str, float]:
    """Return CPU seconds used so far by the server, its PostgreSQL backends, Redis, wrk, the machine."""
    totals = {"server": 0.0, "postgres": 0.0, "redis": 0.0}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        comm, fields = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / _TICK  # utime + stime
        if int(fields[2]) == server_pgid:
            totals["server"] += seconds
        elif comm == "postgres" and f" {DATABASE_NAME} ".encode() in cmdline:
            totals["postgres"] += seconds
        elif comm == "redis-server":
            totals["redis"] += seconds
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has been waited for
    totals["wrk"] = children.ru_utime + children.ru_stime
    # /proc/stat "cpu": user nice system idle iowait irq softirq steal (in ticks, all CPUs together).
    user, nice, system, idle, iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    totals["machine"] = (user + nice + system + irq + softirq) / _TICK
    totals["idle"] = (idle + iowait) / _TICK
    totals["steal"] = steal / _TICK  # a virtual machine's CPU taken by the host
    return totals


def parse_wrk(output: str) -> dict[str, Any]:
    """Read the numbers out of wrk's text report (run with --latency)."""
    percentiles = {
        int(m[1]): float(m[2]) * _UNITS_MS[m[3]]
        for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    }
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    if rps is None or total is None or 50 not in percentiles or 99 not in percentiles:
        raise SystemExit(f"could not parse wrk output:\n{output}")
    return {
        "requests_per_second": float(rps[1]),
        "p50_ms": round(percentiles[50], 3),
        "p99_ms": round(percentiles[99], 3),
        "requests": int(total[1]),
        "non_2xx": int(non_2xx[1]) if non_2xx else 0,
        "socket_errors": socket_errors[1].strip() if socket_errors else None,
    }


# --- the run ------------------------------------------------------------------------------------
def check_same_answer(servers: dict[str, Server], path: str, headers: dict[str, str]) -> None:
    """Both servers must answer 200 with the same JSON before they are measured."""
    answers = {name: http_json(server.url + path, headers) for name, server in servers.items()}
    for name, (status, body) in answers.items():
        if status != 200:
            raise SystemExit(f"{name} answered {status} on {path}: {body}")
    if answers["shopwright"][1] != answers["baseline"][1]:
        raise SystemExit(f"the servers answer differently: {answers}")


# --- statements per request -------------------------------------------------------------------
@contextmanager
def counted_statements() -> Iterator[list[int]]:
    """Count what this thread sends to PostgreSQL through psycopg: [statements, transaction commands].

    Statements are every cursor execute (SQLAlchemy's included); transaction commands are the BEGIN,
    COMMIT and ROLLBACK psycopg sends by itself (its private `_exec_command`: a bench-only patch).
    """
    count, thread = [0, 0], threading.get_ident()
    patched = [
        (psycopg.Cursor, "execute", 0),
        (psycopg.Cursor, "executemany", 0),
        (BaseConnection, "_exec_command", 1),
    ]
    originals = [getattr(owner, name) for owner, name, _kind in patched]

    def counting(original: Callable[..., Any], kind: int) -> Callable[..., Any]:
        def method(self: Any, *args: Any, **kwargs: Any) -> Any:
            count[kind] += threading.get_ident() == thread
            return original(self, *args, **kwargs)

        return method

    for (owner, name, kind), original in zip(patched, originals, strict=True):
        setattr(owner, name, counting(original, kind))
    try:
        yield count
    finally:
        for (owner, name, _kind), original in zip(patched, originals, strict=True):
            setattr(owner, name, original)


def _counting_caller(client: Client, per_call: list[str]) -> Call:
    """Return a Call through `client` that appends what each request sent to `per_call`: "2 (+2 tx)"."""

    def call(method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None) -> tuple[int, Any]:
        with counted_statements() as count:
            response = client.open(url, method=method, headers=headers, json=body)
        statements, commands = count
        per_call.append(f"{statements} (+{commands} tx)" if commands else str(statements))
        return response.status_code, response.get_json(silent=True)

    return call


def count_statements(
    scenario: Scenario, env: dict[str, str], path: str, headers: dict[str, str], values: dict[str, str]
) -> dict[str, str]:
    """Send the scenario's request(s) to both apps in this process; return each one's statements.

    "3" for one request (autocommit), "2 (+2 tx)" with BEGIN and COMMIT, "…, …" for two requests
    (cart-add's add and remove). A first round warms the apps up
    (connections, their set-up statements); the second is counted. Same code as under gunicorn.
    """
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        import baseline

        from shopwright import create_app

        apps: dict[str, Any] = {"shopwright": create_app(), "baseline": baseline.app}
    finally:
        os.environ.clear()
        os.environ.update(saved)
    counts: dict[str, str] = {}
    for name, app in apps.items():
        per_call: list[str] = []
        call = _counting_caller(Client(app), per_call)
        for attempt in range(2):
            per_call.clear()
            if scenario.probe is not None:
                scenario.probe(call, name, values, attempt)
            else:
                status, body = call("GET", path, headers, None)
                if status != 200:
                    raise SystemExit(f"{name} answered {status} on {path} in-process: {body}")
        counts[name] = ", ".join(per_call)
    # The next scenario's database is a new one: its first request must connect again.
    conn = getattr(baseline._local, "conn", None)
    if conn is not None:
        conn.close()
    return counts


def server_env(
    database_url: str, redis_url: str, key_prefix: str, secret: str, overrides: dict[str, str]
) -> dict[str, str]:
    """The environment the bench serves Shopwright (and the baseline) with; `overrides` last."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": key_prefix,
        "SECRET_KEY": secret,
        "APP_ENV": "production",
        "PASSWORD_RESET_URL": "https://shop.example/reset-password?token={token}",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_ENABLED": "false",
        # Scenarios measure the database path; products-cached turns the catalog cache on.
        "CATALOG_CACHE_ENABLED": "false",
        # Emails and webhooks are the worker's (as in docker-compose): the request path is measured, not
        # the delivery of the setup's thousands of queued events after each response.
        "OUTBOX_DELIVERY": "worker",
        **overrides,
    }


def measure(scenario_name: str, duration: int, connections: int, rounds: int) -> dict[str, Any]:
    """Run one scenario against both servers and return the results."""
    scenario = SCENARIOS[scenario_name]
    secret = SECRET_KEY
    env = server_env(DATABASE_URL, REDIS_URL, REDIS_KEY_PREFIX, secret, scenario.env)
    settings = Settings(APP_ENV="development", DATABASE_URL=DATABASE_URL, SECRET_KEY=secret)
    runs: dict[str, list[dict[str, Any]]] = {"shopwright": [], "baseline": []}
    with ExitStack() as stack:  # unwinds in reverse: servers, engine, Redis, then the database
        stack.enter_context(bench_database())
        stack.enter_context(bench_redis())
        engine = make_engine(settings.DATABASE_URL, pool_size=1)
        stack.callback(engine.dispose)
        servers = {
            "shopwright": stack.enter_context(
                gunicorn("shopwright", "shopwright:create_app()", env, [], connections)
            ),
            "baseline": stack.enter_context(
                gunicorn("baseline", "baseline:app", env, ["--pythonpath", str(BENCH)], connections)
            ),
        }
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shopwright-bench-")))
        ctx = Context(
            make_sessionmaker(engine),
            servers["shopwright"].url,
            settings,
            LIBPQ_URL,
            workdir,
            max(duration, WARMUP_SECONDS),
        )
        values = scenario.setup(ctx)
        path = scenario.path.format(**values)
        headers = {key: template.format(**values) for key, template in scenario.headers.items()}
        if scenario.check is None:
            check_same_answer(servers, path, headers)
        else:
            scenario.check({name: server.url for name, server in servers.items()}, values)
        statements = count_statements(scenario, env, path, headers, values)
        script = [
            str(BENCH / arg) if n == 0 else arg.format(**values) for n, arg in enumerate(scenario.script)
        ]

        def run(server: Server, seconds: int) -> dict[str, Any]:
            if scenario.before_run is not None:
                scenario.before_run(ctx)
            return wrk(server.url + path, headers, connections, seconds, server.pgid, script)

        for server in servers.values():
            run(server, WARMUP_SECONDS)
        for round_number in range(rounds):
            # One server at a time (never two loads on 2 cores at once); alternate who goes first.
            order = list(servers) if round_number % 2 == 0 else list(reversed(servers))
            for name in order:
                runs[name].append(run(servers[name], duration))
    medians = {name: _median_run(server_runs) for name, server_runs in runs.items()}
    ratio = medians["shopwright"]["requests_per_second"] / medians["baseline"]["requests_per_second"]
    # The same comparison by CPU spent per request; steadier than req/s when others share the machine.
    own_cpu = {name: _own_cpu_us(run) for name, run in medians.items()}
    return {
        "scenario": scenario_name,
        "path": path,
        "counted": scenario.what or f"requests of {path}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "git_commit": _git_commit(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "wrk": {"threads": min(WRK_THREADS, connections), "connections": connections, "seconds": duration},
        "gunicorn": GUNICORN_ARGS,
        "rounds": rounds,
        "servers": medians,
        "statements": statements,
        "ratio_percent": round(ratio * 100, 1),
        "cpu_ratio_percent": round(own_cpu["baseline"] / max(own_cpu["shopwright"], 1) * 100, 1),
        "runs": runs,
    }


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the run with the median req/s (its latencies come from the same run)."""
    return sorted(runs, key=lambda run: run["requests_per_second"])[(len(runs) - 1) // 2]


def _own_cpu_us(run: dict[str, Any]) -> int:
    """Return the CPU µs a request cost the server, PostgreSQL and Redis (not wrk, not other work)."""
    cpu = run["cpu_us_per_request"]
    return int(cpu["server"] + cpu["postgres"] + cpu["redis"])


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip()


def print_table(result: dict[str, Any]) -> None:
    """Print one row per server (ratio on Shopwright's row), then where the CPU went."""
    print(f"{'scenario':<10} {'server':<11} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>7}")
    for name, numbers in result["servers"].items():
        ratio = f"{result['ratio_percent']:.1f}%" if name == "shopwright" else ""
        print(
            f"{result['scenario']:<10} {name:<11} {numbers['requests_per_second']:>9.0f} "
            f"{numbers['p50_ms']:>8.2f} {numbers['p99_ms']:>8.2f} {ratio:>7}"
        )
    kinds = list(next(iter(result["servers"].values()))["cpu_us_per_request"])
    print(f"\nCPU µs per request  {'':<11}" + "".join(f"{kind:>9}" for kind in kinds))
    for name, numbers in result["servers"].items():
        cpu = numbers["cpu_us_per_request"]
        print(f"{result['scenario']:<19} {name:<11}" + "".join(f"{cpu[kind]:>9}" for kind in kinds))
    own = "server + postgres + redis"
    print(f"ratio by CPU per request (baseline / shopwright, {own}): {result['cpu_ratio_percent']:.1f}%")
    print(f"req/s counts {result['counted']}")
    statements = result["statements"]
    print(
        f"SQL statements a request: shopwright {statements['shopwright']}, baseline {statements['baseline']}"
    )


def noisy_runs(result: dict[str, Any]) -> list[str]:
    """Name the runs where others took over 15 % of the machine's CPU, or over 15 % of it sat idle."""
    warnings = []
    for name, server_runs in result["runs"].items():
        for number, run in enumerate(server_runs, start=1):
            cpu = run["cpu_us_per_request"]
            share = (cpu["other"] + cpu["steal"]) / max(sum(cpu.values()), 1)
            if share > 0.15:
                warnings.append(
                    f"{name} run {number}: other processes or the host took {share:.0%} of the CPU"
                )
            idle = cpu["idle"] / max(sum(cpu.values()), 1)
            if idle > 0.15:  # 16 connections keep 2 cores busy; idle time means something held the run back
                warnings.append(f"{name} run {number}: the CPUs sat {idle:.0%} idle under load")
    return warnings


def print_summary(results: list[dict[str, Any]]) -> None:
    """Print one line per scenario: both servers' req/s and the ratio (after `--scenario all`)."""
    print(f"{'scenario':<10} {'shopwright':>11} {'baseline':>9} {'ratio':>7} {'CPU ratio':>10}  statements")
    for result in results:
        servers = result["servers"]
        print(
            f"{result['scenario']:<10} {servers['shopwright']['requests_per_second']:>11.0f} "
            f"{servers['baseline']['requests_per_second']:>9.0f} {result['ratio_percent']:>6.1f}% "
            f"{result['cpu_ratio_percent']:>9.1f}%  {result['statements']['shopwright']} / "
            f"{result['statements']['baseline']}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="me", help="default: me")
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per server")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16-32 on 2 cores)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure each server N times; report the median"
    )
    args = parser.parse_args()
    # A SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so servers and the database are cleaned up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results, status = [], 0
    for number, name in enumerate(names):
        if number:
            print()
        result = measure(name, args.duration, args.connections, args.rounds)
        results.append(result)
        print_table(result)
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        sys.stdout.flush()  # the table before any warning
        for warning in noisy_runs(result):
            print(f"WARNING: busy machine, numbers unreliable: {name}: {warning}", file=sys.stderr)
        errors = {server: sum(run["non_2xx"] for run in runs) for server, runs in result["runs"].items()}
        if any(errors.values()):
            print(f"WARNING: non-2xx responses during the {name} run: {errors}", file=sys.stderr)
            status = 1
        sys.stderr.flush()
    if len(results) > 1:
        print()
        print_summary(results)
    return status


if __name__ == "__main__":
    sys.exit(main())
