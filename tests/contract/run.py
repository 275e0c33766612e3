"""`make contract`: schemathesis against a real gunicorn server, on a PostgreSQL database of its own.

1. Create a database with a unique name, migrate it, serve the app on it with gunicorn on a free port.
2. Seed through the API what the operations' ids should find (tests/contract/seed.py): categories,
   products (one without a category), a review, vouchers, a customer with addresses, cart lines, a
   saved line, a pending and a paid order (with its payment).
3. Run `st run` over every operation with the checks below, as an anonymous client, as a customer and as
   an admin. Each role logs in as its own throwaway account (tests/contract/hooks.py replaces it when the
   run ends it); ids come from the seeded data most of the time (`ID_HIT_RATE`), else are generated. The
   operations that end or change the role's account run last, on their own (`ACCOUNT_CHANGING`).
4. Print cases, failures, time and the operations that only ever answered 404; stop gunicorn, drop the
   database and the run's Redis keys, also when anything fails.

Exit status 0 only when no run found a failure. CONTRACT_SECONDS is the fuzzing time budget (default
240; seeding and start-up add about 15 s). CONTRACT_KEEP=1 keeps the configs and NDJSON event logs;
CONTRACT_ALLOW_X00=false leaves NUL bytes out of generated strings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis
from alembic import command
from sqlalchemy import make_url

from shopwright.cli import alembic_config
from tests.contract.seed import PASSWORD, Seeded, call, seed

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRET = "contract-secret-key-that-is-long-enough-0123456789"
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
# One worker: with two threads, hypothesis' lambda descriptions race in ast.parse, which CPython 3.11
# does not make thread-safe ("SystemError: AST constructor recursion depth mismatch" ends the run).
WORKERS = os.environ.get("CONTRACT_WORKERS", "1")
# NUL bytes are generated too: every input string refuses them with 422 (schemas.InputModel/QueryModel).
ALLOW_X00 = os.environ.get("CONTRACT_ALLOW_X00", "true")
ID_HIT_RATE = 0.8  # how often a path or body id is one of the seeded ones (the rest: generated, mostly 404)
# Operations that end the role's session or change its login (a new email): each role runs them in a
# short run of its own at the end, as their first call would leave the rest of a run on a fresh account,
# without the seeded data its ids point at.
ACCOUNT_CHANGING = [
    "logout",
    "refreshTokens",
    "changePassword",
    "updateProfile",
    "replaceProfile",
    "deleteAccount",
    "adminToggleUserStatus",
    "adminSetUserRole",  # demoting the run's admin (or a user) ends its sessions
]
RUNS = [  # (role, only these operation ids or None for all but ACCOUNT_CHANGING, share of the time budget)
    ("anonymous", None, 0.20),
    ("customer", None, 0.33),
    ("admin", None, 0.33),
    ("customer", ACCOUNT_CHANGING, 0.07),
    ("admin", ACCOUNT_CHANGING, 0.07),
]


def main() -> int:
    budget = float(os.environ.get("CONTRACT_SECONDS", "240"))
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="shopwright-contract-"))
    prefix = f"contract-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    results = []
    try:
        with database() as url, server(url, prefix, work) as base_url:
            seeded = seed(base_url, url)
            for role, only, share in RUNS:
                results.append(
                    run_schemathesis(base_url, url, role, only, max(5, int(budget * share)), seeded, work)
                )
    finally:
        _delete_redis_keys(prefix)
        if os.environ.get("CONTRACT_KEEP"):
            print(f"contract: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return report(results, time.monotonic() - started)


# --- database and server ---------------------------------------------------------------------
@contextmanager
def database() -> Iterator[str]:
    """Create and migrate a database for this run; drop it afterwards."""
    name = f"shopwright_contract_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(PG_ADMIN_URL)
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    try:
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def server(database_url: str, redis_prefix: str, work: Path) -> Iterator[str]:
    """Serve the app with gunicorn on a free port until the block ends."""
    port = _free_port()
    env = {
        **os.environ,
        "APP_ENV": "test",
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_KEY_PREFIX": redis_prefix,
        "SECRET_KEY": SECRET,
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "RATE_LIMIT_ENABLED": "false",  # every request comes from one IP; 429 is covered by tests/api
        "EMAIL_BACKEND": "file",
        "EMAIL_OUTBOX_DIR": str(work / "outbox"),
        "LOG_LEVEL": "WARNING",
    }
    command_line = [sys.executable, "-m", "gunicorn", "shopwright:create_app()", f"--bind=127.0.0.1:{port}"]
    command_line += ["--workers=2", "--worker-class=gthread", "--threads=4", "--log-level=warning"]
    process = subprocess.Popen(command_line, cwd=ROOT, env=env, start_new_session=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, process)
        yield base_url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if call(base_url, "GET", "/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not become healthy in 30 s")


def _delete_redis_keys(prefix: str) -> None:
    try:
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    except redis.RedisError as error:
        print(f"contract: could not delete the run's Redis keys ({prefix}*): {error}", file=sys.stderr)


# --- schemathesis ----------------------------------------------------------------------------
STATEFUL = "Stateful tests"


@dataclass
class RunResult:
    label: str
    exit_code: int
    seconds: float
    cases: int
    failures: int
    statuses: dict[str, set[int]]  # operation label → every status it answered


def run_schemathesis(
    base_url: str,
    database_url: str,
    role: str,
    only: list[str] | None,
    seconds: int,
    seeded: Seeded,
    work: Path,
) -> RunResult:
    """Run schemathesis as `role` (over `only` these operation ids, or all of them); return its numbers."""
    label = f"{role}{' (account-changing operations)' if only else ''}"
    config = work / f"{role}-{'account' if only else 'main'}.toml"
    config.write_text(_config_toml(seeded))
    ndjson = work / f"{config.stem}.ndjson"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "CONTRACT_BASE_URL": base_url,
        "CONTRACT_DATABASE_URL": database_url,
        "CONTRACT_ROLE": role,
        "CONTRACT_EMAIL": seeded.accounts.get(role, ""),
        "CONTRACT_PASSWORD": PASSWORD,
    }
    command_line = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        f"{base_url}/api/openapi.json",
        "--checks",
        CHECKS,
        "--workers",
        WORKERS,
        "--max-time",
        str(seconds),
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(ndjson),
        "--no-color",
    ]
    for operation_id in only or []:
        command_line += ["--include-operation-id", operation_id]
    if only is None and role != "anonymous":
        command_line += [arg for name in ACCOUNT_CHANGING for arg in ("--exclude-operation-id", name)]
    print(f"\n=== schemathesis as {label}, {seconds} s ===", flush=True)
    started = time.monotonic()
    exit_code = subprocess.call(command_line, cwd=ROOT, env=env)
    cases, failures, statuses = _read_events(ndjson)
    return RunResult(label, exit_code, time.monotonic() - started, cases, failures, statuses)


def _config_toml(seeded: Seeded) -> str:
    lines = ["[cache]", "enabled = false", "", "[generation]", f"allow-x00 = {ALLOW_X00}", ""]
    for name, values in seeded.ids.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(values)}", ""]
    lines.append("[parameters]")
    for name in seeded.ids.keys() - {"order_item_id"}:
        lines.append(f'"path.{name}" = {{ dictionary = "{name}", probability = {ID_HIT_RATE} }}')
    for name in ("product_id", "variant_id", "order_id", "category_id"):
        lines.append(f'"body.{name}" = {{ dictionary = "{name}", probability = {ID_HIT_RATE} }}')
    lines.append(f'"body.parent_id" = {{ dictionary = "category_id", probability = {ID_HIT_RATE} }}')
    lines.append(f'"body.items[*].item_id" = {{ dictionary = "order_item_id", probability = {ID_HIT_RATE} }}')
    return "\n".join(lines) + "\n"


def _read_events(path: Path) -> tuple[int, int, dict[str, set[int]]]:
    """Count a run's cases and distinct failures (operation, check); collect each operation's statuses."""
    cases: set[str] = set()
    failed: set[tuple[str, str]] = set()  # (operation, check): shrinking repeats one failure many times
    statuses: dict[str, set[int]] = defaultdict(set)
    if not path.exists():
        return 0, 0, statuses
    for line in path.read_text().splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if event is None:
            continue
        recorder = event["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            cases.add(case_id)
            failed |= {(recorder["label"], check["name"]) for check in checks if check["status"] == "failure"}
        for interaction in recorder.get("interactions", {}).values():
            if interaction.get("response"):
                statuses[recorder["label"]].add(interaction["response"]["status_code"])
    return len(cases), len(failed), statuses


def report(results: list[RunResult], seconds: float) -> int:
    """Print each run's numbers and the operations that only ever answered 404; return the exit status."""
    print("\n=== make contract ===")
    for result in results:
        print(
            f"{result.label:<40} cases {result.cases:>6}  failures {result.failures:>3}"
            f"  {result.seconds:4.0f} s  (schemathesis exit {result.exit_code})"
        )
    print(f"{'all runs':<40} cases {sum(r.cases for r in results):>6}  total time {seconds:.0f} s")
    seen: dict[str, set[int]] = defaultdict(set)
    for result in results:
        if result.label != "anonymous":  # anonymous sees 401 before any id is looked up
            for label, codes in result.statuses.items():
                if label != STATEFUL:  # steps of the stateful phase are recorded under this one label
                    seen[label] |= codes
    only_404 = sorted(label for label, codes in seen.items() if codes and codes <= {404})
    print(f"operations that only answered 404 as customer and admin: {len(only_404)}")
    for label in only_404:
        print(f"  {label}")
    never_ok = sorted(label for label, codes in seen.items() if not any(200 <= code < 400 for code in codes))
    print(f"operations that never succeeded (2xx/304) as customer and admin: {len(never_ok)}")
    for label in never_ok:
        print(f"  {label}: {sorted(seen[label])}")
    return 0 if all(result.exit_code == 0 for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
