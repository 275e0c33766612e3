"""Back-office reports at scale: 100,000 orders and 1,000,000 order lines on PostgreSQL, then the p95 of
each report and of the dashboard, with their query plans.

    python bench/reports.py [--orders 100000] [--lines-per-order 10] [--runs 50] [--fresh]

Seeds the dedicated database `shopwright_bench_reports` with set-based SQL (generate_series: about a
minute), then builds the sales rollup the reports read (`rollup.rebuild`, as `flask rebuild-sales-rollup`
does); the database is reused while it holds the asked-for orders; --fresh rebuilds it (needed once after
a migration changed the schema). Orders are spread over the two
years before 2026-12-01: 10 % pending, 10 % cancelled, 10 % refunded, the rest paid, shipped or delivered;
2 % of the counted orders carry a partial refund, 1 in 7 a discount.

Timing goes through the service layer (`shopwright.reports.service`, what the routes call), on an
autocommit session as the app's read sessions use, so it measures the SQL round trips and building the
answers, not HTTP. Each case runs `--runs` times after one warm-up; p50/p95/max are printed and written
with EXPLAIN (ANALYZE, BUFFERS) of each statement to bench/results/reports.md. Target: p95 < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from sqlalchemy import event
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shopwright.cli import alembic_config  # noqa: E402
from shopwright.db import make_engine, make_sessionmaker  # noqa: E402
from shopwright.orders import rollup  # noqa: E402
from shopwright.reports import service  # noqa: E402

DB = "shopwright_bench_reports"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DSN = f"postgresql://postgres@127.0.0.1:5432/{DB}"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"
RESULTS = ROOT / "bench" / "results" / "reports.md"
TARGET_MS = 50.0
LAST_DAY = date(2026, 11, 30)

SEED = """
INSERT INTO users (email, password_hash, role)
SELECT 'customer' || n || '@bench.example', 'x', 'customer' FROM generate_series(1, %(customers)s) n;

INSERT INTO categories (id, parent_id, name, slug)
SELECT n, NULL, 'Category ' || n, 'category-' || n FROM generate_series(1, 20) n;
INSERT INTO categories (id, parent_id, name, slug)
SELECT n, 1 + n %% 20, 'Sub-category ' || n, 'category-' || n FROM generate_series(21, 100) n;
SELECT setval('categories_id_seq', 100);

-- Every 50th product has no category.
INSERT INTO products (id, category_id, name, slug, min_price_cents)
SELECT n, CASE WHEN n %% 50 = 0 THEN NULL ELSE 1 + n %% 100 END, 'Product ' || n, 'product-' || n,
       100 + (n * 37) %% 10000
FROM generate_series(1, %(products)s) n;
SELECT setval('products_id_seq', %(products)s);
INSERT INTO variants (id, product_id, sku, name, attributes, price_cents, cost_cents, is_default)
SELECT n, n, 'SKU-' || n, 'Default', '{}', 100 + (n * 37) %% 10000, (100 + (n * 37) %% 10000) * 6 / 10, true
FROM generate_series(1, %(products)s) n;
SELECT setval('variants_id_seq', %(products)s);
INSERT INTO inventory (variant_id, quantity, reserved)
SELECT n, n %% 40, 0 FROM generate_series(1, %(products)s) n;

-- Orders: created over two years; paid a few minutes later unless still pending.
INSERT INTO orders (id, user_id, status, currency, subtotal_cents, discount_cents, shipping_cents, tax_cents,
                    total_cents, shipping_address, created_at, updated_at, paid_at)
SELECT o, 1 + o %% %(customers)s,
       (ARRAY['pending', 'cancelled', 'refunded', 'paid', 'paid', 'shipped', 'shipped', 'delivered',
              'delivered', 'delivered'])[1 + o %% 10],
       'USD', 0, 0, 500, 0, 500, '"1 Bench Street"',
       t, t, CASE WHEN o %% 10 = 0 THEN NULL ELSE t + interval '3 minutes' END
FROM generate_series(1, %(orders)s) o,
     LATERAL (SELECT timestamptz '2026-12-01 00:00:00+00' - (o::float8 / %(orders)s) * interval '730 days'
              - (o %% 1440) * interval '1 minute' AS t) AS created;
SELECT setval('orders_id_seq', %(orders)s);

INSERT INTO order_items (order_id, product_id, variant_id, name, variant_name, sku, unit_price_cents,
                         unit_cost_cents, quantity, line_total_cents)
SELECT o, p, p, 'Product ' || p, 'Default', 'SKU-' || p, v.price_cents, v.cost_cents, q, v.price_cents * q
FROM generate_series(1, %(orders)s) o,
     generate_series(1, %(lines)s) k,
     LATERAL (SELECT 1 + (o * 7 + k * 131) %% %(products)s AS p, 1 + (o + k) %% 3 AS q) AS pick,
     LATERAL (SELECT price_cents, cost_cents FROM variants WHERE id = p) AS v;

UPDATE orders SET subtotal_cents = s.subtotal, discount_cents = s.discount,
                  total_cents = s.subtotal - s.discount + 500
FROM (SELECT order_id, sum(line_total_cents)::bigint AS subtotal,
             CASE WHEN order_id %% 7 = 0 THEN sum(line_total_cents)::bigint / 10 ELSE 0 END AS discount
      FROM order_items GROUP BY order_id) AS s
WHERE s.order_id = orders.id;

INSERT INTO payments (id, order_id, user_id, provider, status, amount_cents, currency, refunded_cents,
                      created_at, updated_at)
SELECT id, id, user_id, 'test', 'succeeded', total_cents, 'USD',
       CASE WHEN status IN ('refunded', 'cancelled') THEN total_cents WHEN id %% 50 = 3 THEN 500 ELSE 0 END,
       paid_at, paid_at
FROM orders WHERE paid_at IS NOT NULL;
SELECT setval('payments_id_seq', %(orders)s);
INSERT INTO refunds (payment_id, amount_cents, status, reason)
SELECT id, refunded_cents, 'succeeded', 'bench' FROM payments WHERE refunded_cents > 0;
"""


def prepare_database(orders: int, lines: int, fresh: bool, db: str = DB) -> int:
    """Create, migrate and seed the database `db` unless it already holds `orders` orders."""
    dsn = f"postgresql://postgres@127.0.0.1:5432/{db}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
        if exists and not fresh:
            with psycopg.connect(dsn) as conn:
                held = conn.execute("SELECT count(*) FROM orders").fetchone()
            if held and held[0] >= orders:
                return int(held[0])
        admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db}"')
    command.upgrade(alembic_config(dsn.replace("postgresql://", "postgresql+psycopg://")), "head")
    started = time.perf_counter()
    params = {"orders": orders, "lines": lines, "customers": max(orders // 10, 1), "products": 2_000}
    with psycopg.connect(dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        for statement in SEED.split(";\n"):
            if statement.strip():
                conn.execute(statement, params)
        conn.commit()
    print(f"seeded {orders:,} orders x {lines} lines in {time.perf_counter() - started:.1f} s")
    # The seed writes orders behind the use cases' back: the rollup is built the way the repair command
    # (`flask rebuild-sales-rollup`) and migration 0012 build it.
    started = time.perf_counter()
    engine = make_engine(dsn.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
    with make_sessionmaker(engine)() as session:
        counted = rollup.rebuild(session)
    engine.dispose()
    print(f"built the sales rollup ({counted:,} counted orders) in {time.perf_counter() - started:.1f} s")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return orders


def cases() -> dict[str, Callable[[Session], Any]]:
    """The measured calls: each report over all time, the last 30 days and the last year."""
    windows = {
        "all time": service.Window(),
        "last 365 days": service.Window(date(2025, 12, 1), LAST_DAY),
        "last 30 days": service.Window(date(2026, 11, 1), LAST_DAY),
    }
    calls: dict[str, Callable[[Session], Any]] = {}
    for label, window in windows.items():
        calls[f"profit, {label}"] = partial(service.profit_report, window=window)
        calls[f"product-sales, {label}"] = partial(service.product_sales, window=window, limit=100)
        calls[f"category-sales, {label}"] = partial(service.category_sales, window=window)
        calls[f"dashboard, {label}"] = partial(service.dashboard, window=window, low_stock_threshold=5)
    return calls


def measure(
    runs: int, url: str = URL, with_plans: bool = True
) -> tuple[list[tuple[str, float, float, float, int]], dict[str, list[str]]]:
    """Time every case; return (name, p50, p95, max, statements) rows and the statements' plans."""
    engine = make_engine(url, pool_size=2, autocommit=True)
    statements: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _record(conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool) -> None:
        statements.append((sql, params))

    sessions = make_sessionmaker(engine)
    rows, plans = [], {}
    for name, call in cases().items():
        with sessions() as session:
            call(session)  # warm-up (and the statements to explain)
            statements.clear()
            call(session)
            issued = list(statements)
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                call(session)
                timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
        rows.append((name, statistics.median(timings), p95, timings[-1], len(issued)))
        print(f"{name:<34} p50 {rows[-1][1]:7.1f} ms  p95 {p95:7.1f} ms  max {timings[-1]:7.1f} ms")
        if with_plans:
            plans[name] = [explain(engine, sql, params) for sql, params in issued]
    engine.dispose()
    return rows, plans


def explain(engine: Any, sql: str, params: Any) -> str:
    with engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def write_results(orders: int, lines: int, runs: int, rows: list[Any], plans: dict[str, list[str]]) -> None:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src", "migrations"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    with psycopg.connect(ADMIN_DSN) as conn:
        server = conn.execute("SHOW server_version").fetchone()
    load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else ["?"]
    out = [
        "# Reports benchmark",
        "",
        f"Commit measured: `{commit}`{' (with uncommitted changes)' if dirty else ''}. PostgreSQL "
        f"{server[0] if server else '?'}, 2 cores shared with other work (load average at the end: "
        f"{' '.join(load)}). {orders:,} orders, "
        f"{orders * lines:,} order lines (`python bench/reports.py`). Each case: {runs} runs after a "
        "warm-up, through `shopwright.reports.service` on an autocommit session (no HTTP). "
        "Target: p95 < 50 ms.",
        "",
        "| case | p50 ms | p95 ms | max ms | statements | p95 < 50 ms |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, p50, p95, worst, count in rows:
        met = "yes" if p95 < TARGET_MS else "no"
        out.append(f"| {name} | {p50:.1f} | {p95:.1f} | {worst:.1f} | {count} | {met} |")
    out += ["", "## Plans (EXPLAIN ANALYZE, BUFFERS)", ""]
    for name, statement_plans in plans.items():
        out.append(f"### {name}")
        for plan in statement_plans:
            out += ["", "```", plan, "```"]
        out.append("")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--lines-per-order", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the database")
    args = parser.parse_args()
    orders = prepare_database(args.orders, args.lines_per_order, args.fresh)
    rows, plans = measure(args.runs)
    write_results(orders, args.lines_per_order, args.runs, rows, plans)


if __name__ == "__main__":
    main()
