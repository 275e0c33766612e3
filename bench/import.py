"""Bulk product import at 100,000 rows: through the use case, and once through HTTP (gunicorn).

    python bench/import.py                 # 100,000 rows; writes bench/results/import.md
    python bench/import.py --rows 20000 --profile

Each measurement runs on a fresh database (created, migrated, dropped at the end): creating 100,000
products (categories, default variants, stock and their movements), then importing the same file again
(every row unchanged), exporting the catalog and importing the export (unchanged too), then a file that
updates every row (price and stock). The HTTP run posts the file as multipart to
POST /api/admin/products/import on a gunicorn server, timed from the client. Needs PostgreSQL at
127.0.0.1:5432 (user postgres, trust auth).
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from alembic import command

from shopwright.accounts import seed as account_seed
from shopwright.catalog.importing import csv_lines
from shopwright.cli import alembic_config
from shopwright.db import make_engine, make_sessionmaker
from shopwright.inventory import exporting, importing

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "import.md"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# A name of your own when others benchmark on the same server (the run drops it at the start and the end).
DATABASE = os.environ.get("BENCH_DATABASE", "shopwright_bench_import")
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DATABASE}"
CATEGORIES = ["Garden > Tools", "Garden > Hoses", "Kitchen > Knives", "Kitchen", "Toys > Outdoor", ""]


def product_file(rows: int, *, price_offset: int = 0, stock_offset: int = 0) -> bytes:
    """Return a CSV of `rows` products with every column (a few categories, prices, stock)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(
        ["sku", "name", "description", "category", "price", "cost_cents", "stock_quantity", "is_active"]
    )
    for n in range(rows):
        writer.writerow(
            [
                f"BENCH-{n:06d}",
                f"Bench product {n}",
                f"A generated product, number {n}, for the import benchmark.",
                CATEGORIES[n % len(CATEGORIES)],
                f"{(n % 5000) + 1 + price_offset}.{n % 100:02d}",
                str(n % 700),
                str(n % 50 + stock_offset),
                "true" if n % 10 else "false",
            ]
        )
    return buffer.getvalue().encode()


@contextmanager
def fresh_database(database: str = DATABASE) -> Iterator[str]:
    """Create and migrate `database`, yield its URL, drop it at the end."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        command.upgrade(alembic_config(url), "head")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def timed(label: str, work: Callable[[], Any], results: list[tuple[str, float, Any]]) -> Any:
    start = time.perf_counter()
    value = work()
    elapsed = time.perf_counter() - start
    results.append((label, elapsed, value))
    print(f"{label:<48} {elapsed:7.2f} s  {value}")
    if PHASES:
        print_phases(label, elapsed)
    return value


PHASES: dict[str, float] = {}


def time_phases() -> None:
    """Wrap the import's steps so that each run prints where its time went (--phases).

    The steps are looked up by name: a step the code measured does not have is skipped, so the same
    script can time an older commit (PYTHONPATH=<its src>).
    """
    from shopwright.catalog import bulk

    def wrap(module: Any, name: str) -> None:
        inner = getattr(module, name)

        def timed_step(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                PHASES[name] = PHASES.get(name, 0.0) + time.perf_counter() - start

        setattr(module, name, timed_step)

    steps = {
        importing: ("read_rows", "_lock_stock", "_check", "_plan", "_write_stock", "_events"),
        bulk: (
            "lock_current",
            "ensure_categories",
            "insert_products",
            "update_products",
            "update_variants",
            "refresh_min_prices",
        ),
    }
    for module, names in steps.items():
        for name in names:
            if hasattr(module, name):
                wrap(module, name)


PHASE_LINES: list[str] = []


def print_phases(label: str, total: float) -> None:
    accounted = sum(PHASES.values())
    steps = ", ".join(f"{k} {v:.2f}" for k, v in PHASES.items() if v >= 0.005)
    line = f"{steps}, rest (commit, the transaction) {total - accounted:.2f}"
    PHASE_LINES.append(f"- {label}: {line}")
    print(f"    {line}")
    PHASES.clear()


def through_service(
    rows: int, results: list[tuple[str, float, Any]], profile: bool, database: str = DATABASE
) -> None:
    """Time creating `rows` products, importing the same file again, then updating every row."""
    first, second = product_file(rows), product_file(rows, price_offset=1, stock_offset=1)
    with fresh_database(database) as url:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        profiler = cProfile.Profile() if profile else None

        def run(data: bytes) -> Callable[[], Any]:
            def work() -> Any:
                with sessions() as session:
                    if profiler:
                        profiler.enable()
                    try:
                        return importing.import_products(session, data).__dict__
                    finally:
                        if profiler:
                            profiler.disable()

            return work

        def export() -> str:
            data = "".join(csv_lines(exporting.export_rows(sessions))).encode()
            exported.append(data)
            return f"{len(data) / 2**20:.1f} MiB"

        exported: list[bytes] = []
        timed(f"service: create {rows:,} products", run(first), results)
        timed(f"service: same file again ({rows:,} unchanged)", run(first), results)
        timed(f"service: export {rows:,} products (CSV)", export, results)
        timed(f"service: import the export ({rows:,} unchanged)", lambda: run(exported[0])(), results)
        timed(f"service: update {rows:,} (price, stock)", run(second), results)
        engine.dispose()
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def through_http(rows: int, results: list[tuple[str, float, Any]]) -> None:
    data = product_file(rows)
    with fresh_database() as url:
        sessions = make_sessionmaker(make_engine(url))
        with sessions() as session:
            account_seed.ensure_admin(session, "bench-admin@example.com", "Bench-admin-1")
        port = 18_000 + secrets.randbelow(1000)
        env = {
            **os.environ,
            "APP_ENV": "production",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "LOG_LEVEL": "WARNING",
            "RATE_LIMIT_ENABLED": "false",
            "PASSWORD_RESET_URL": "https://shop.example.com/reset",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                "1",
                "-b",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "shopwright:create_app()",
            ],
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/health", timeout=1).status_code < 500:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            login = httpx.post(
                f"{base}/api/auth/login",
                json={"email": "bench-admin@example.com", "password": "Bench-admin-1"},
                timeout=10,
            )
            token = login.json()["access_token"]

            def post() -> Any:
                response = httpx.post(
                    f"{base}/api/admin/products/import",
                    files={"file": ("products.csv", data, "text/csv")},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=120,
                )
                return response.status_code, response.json()

            timed(f"HTTP: create {rows:,} products ({len(data) / 2**20:.1f} MiB)", post, results)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the service runs")
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--phases", action="store_true", help="print the seconds of each step of the import")
    parser.add_argument("--output", type=Path, default=RESULTS, help="the results file (Markdown)")
    args = parser.parse_args()
    if args.phases:
        time_phases()
    results: list[tuple[str, float, Any]] = []
    through_service(args.rows, results, args.profile)
    if not args.no_http:
        through_http(args.rows, results)
    output: Path = args.output
    output.parent.mkdir(exist_ok=True)
    lines = [
        "# Product import benchmark",
        "",
        f"`python bench/import.py --rows {args.rows}` at commit {commit()}, PostgreSQL on this machine "
        f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end). "
        "Target: 100,000 rows in < 10 s.",
        "",
        "| run | seconds | answer |",
        "|---|---:|---|",
        *[f"| {label} | {elapsed:.2f} | `{value}` |" for label, elapsed, value in results],
        "",
    ]
    if PHASE_LINES:
        lines += ["Seconds per step (`--phases`):", "", *PHASE_LINES, ""]
    output.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
