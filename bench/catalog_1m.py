"""Catalog at scale: with N generated products (default 1,000,000) on PostgreSQL, time product-list
requests through gunicorn (first page, deep cursor pages, search, filters) and show their query plans.

    python bench/catalog_1m.py [--products 1000000] [--requests 200] [--fresh]

Prints p50/p95/max per request kind (target: p95 < 25 ms) and EXPLAIN (ANALYZE, BUFFERS) of the list
query behind each, so it is visible which index answers it. The database `shopwright_bench_1m` is reused
when it already holds enough products (seeding 1M takes about two minutes); --fresh rebuilds it.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shopwright import create_app  # noqa: E402
from shopwright.config import Settings  # noqa: E402
from shopwright.pagination import encode_cursor  # noqa: E402

DB = "shopwright_bench_1m"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"
SECRET = "bench-secret-key-that-is-long-enough-0123456789"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--fresh", action="store_true", help="drop and rebuild the database")
    args = parser.parse_args()

    count = prepare_database(args.products, args.fresh)
    env = {
        **os.environ,
        "DATABASE_URL": URL,
        "SECRET_KEY": SECRET,
        "APP_ENV": "production",
        "PASSWORD_RESET_URL": "https://shop.example/reset-password?token={token}",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_ENABLED": "false",
    }
    cases = request_cases()
    print(f"\n{count:,} products. Timing {args.requests} sequential requests per kind through gunicorn.\n")
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "shopwright:create_app()",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "1",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_healthy(port)
        rows = [(name, *time_requests(port, path, args.requests)) for name, path in cases]
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(f"{'request':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  items")
    for name, p50, p95, worst, items in rows:
        flag = "" if p95 < 25 else "  <-- over 25 ms"
        print(f"{name:<34} {p50:8.2f} {p95:8.2f} {worst:8.2f}  {items}{flag}")
    print("\nQuery plans (the product-list statement of each request):")
    for name, path in cases:
        print(f"\n--- {name}: GET {path}")
        print(explain(path))
    print(f"\n(database {DB} is kept for re-runs; drop it with: dropdb -h 127.0.0.1 -U postgres {DB})")


def prepare_database(products: int, fresh: bool, url: str = URL) -> int:
    """Create and migrate the database at `url` if needed and top it up to `products` products."""
    db = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{db}"')
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    flask = [sys.executable, "-m", "flask"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    have = product_count(url)
    if have < products:
        started = time.perf_counter()
        subprocess.run([*flask, "seed-db", "--products", str(products - have)], cwd=ROOT, env=env, check=True)
        print(f"seeded {products - have:,} products in {time.perf_counter() - started:.0f} s")
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
    return product_count(url)


def product_count(url: str = URL) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT count(*) FROM products").fetchone()
        return int(row[0]) if row else 0


def _scalar(conn: psycopg.Connection[Any], sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    assert row is not None, sql
    return row[0]


def request_cases(url: str = URL) -> list[tuple[str, str]]:
    """The measured list requests (name, path), their cursors and filters taken from the data at `url`."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        max_id = int(_scalar(conn, "SELECT max(id) FROM products"))
        mid_price = int(_scalar(conn, "SELECT min_price_cents FROM products WHERE id = %s", (max_id // 2,)))
        root = int(_scalar(conn, "SELECT id FROM categories WHERE parent_id IS NULL ORDER BY id LIMIT 1"))
    deep_newest = encode_cursor({"id": max_id // 2})
    deep_price = encode_cursor({"price": mid_price, "id": max_id // 2})
    deep_rating = encode_cursor({"rating": "0.00", "id": max_id // 2})
    return [
        ("first page (newest)", "/api/products?limit=20"),
        ("deep cursor, newest", f"/api/products?limit=20&cursor={deep_newest}"),
        ("deep cursor, price_asc", f"/api/products?limit=20&sort=price_asc&cursor={deep_price}"),
        ("deep cursor, rating", f"/api/products?limit=20&sort=rating&cursor={deep_rating}"),
        ("search 'tent' (newest)", "/api/products?limit=20&q=tent"),
        ("search 'tent', deep cursor", f"/api/products?limit=20&q=tent&cursor={deep_newest}"),
        ("search 'wireless lantern'", "/api/products?limit=20&q=wireless%20lantern"),
        ("search 'tent', relevance", "/api/products?limit=20&q=tent&sort=relevance"),
        ("search 'tent', price_asc", "/api/products?limit=20&q=tent&sort=price_asc"),
        ("category (with subs), in_stock", f"/api/products?limit=20&category_id={root}&in_stock=true"),
        (
            "price range, price_asc",
            "/api/products?limit=20&min_price_cents=10000&max_price_cents=20000&sort=price_asc",
        ),
    ]


def time_requests(port: int, path: str, n: int) -> tuple[float, float, float, int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    timings, items = [], 0
    for i in range(n + 5):
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        assert response.status == 200, (path, response.status, body[:300])
        if i >= 5:  # the first few warm the caches
            timings.append(elapsed)
        items = len(json.loads(body)["items"])
    conn.close()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], timings[-1], items


def explain(path: str) -> str:
    """Capture the product-list SQL of one in-process request and EXPLAIN ANALYZE it."""
    app = create_app(
        Settings(
            DATABASE_URL=URL,
            SECRET_KEY=SECRET,
            APP_ENV="production",
            LOG_LEVEL="WARNING",
            PASSWORD_RESET_URL="https://shop.example/reset-password?token={token}",  # noqa: S106 - a URL
        )
    )
    engine = app.extensions["shopwright.read_sessions"].kw["bind"]  # public catalog reads go there
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().startswith("SELECT products.id") and "FROM products" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    app.test_client().get(path)
    event.remove(engine, "before_cursor_execute", capture)
    for sessions in ("shopwright.sessions", "shopwright.read_sessions"):
        app.extensions[sessions].kw["bind"].dispose()
    if not captured:
        return "(no product-list statement captured)"
    statement, parameters = captured[0]
    with psycopg.connect(URL.replace("+psycopg", "")) as conn:
        rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {statement}", parameters).fetchall()
    return "\n".join(row[0] for row in rows)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


if __name__ == "__main__":
    main()
