"""What the stack itself costs: one product-detail read through each layer, in CPU µs per request.

    python bench/floor.py [--requests 5000]

Not a wrk run: everything runs in this process, one request after another, and the figure is this
process's CPU time per request (time.process_time), which a busy machine disturbs much less than a
throughput run. It answers one question: of the gap between Shopwright and the raw baseline
(bench/baseline.py), how much is the framework layers themselves, before any of our code runs?

The same two statements Shopwright sends for GET /api/products/<id> (the product with its category,
then its active variants with their stock) are sent by:

- psycopg alone (the baseline's way: SQL text on one autocommit connection),
- SQLAlchemy Core on a held connection (`connection.execute(statement)`, compiled cache warm),
- a SQLAlchemy ORM session held open (`session.execute`),
- a new ORM session each request (what a request does: open, two statements, close),

and then whole requests through WSGI (Werkzeug's EnvironBuilder environ, the body read to the end):

- the raw baseline (bench/baseline.py) and Shopwright (`create_app()`), the real endpoints;
- a bare Flask app whose one route runs the same ORM session read as Shopwright and returns its dict:
  Flask + SQLAlchemy with none of Shopwright's hooks, validation or response code.

Seeds a database of its own (BENCH_DATABASE, default shopwright_bench_floor) as the `detail` scenario
does (10,000 products and a product with four variants), and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("BENCH_DATABASE", "shopwright_bench_floor")

import psycopg
import run
import scenarios
from flask import Flask
from sqlalchemy.dialects import postgresql
from werkzeug.test import EnvironBuilder

from shopwright import create_app
from shopwright.catalog import display
from shopwright.config import Settings
from shopwright.db import make_engine, make_sessionmaker
from shopwright.inventory import service as inventory
from shopwright.inventory import view

WARMUP = 200


def cpu_per_call(call: Callable[[], object], requests: int) -> float:
    """Return the CPU µs this process spends per call of `call`, after a warm-up."""
    for _ in range(WARMUP):
        call()
    started = time.process_time()
    for _ in range(requests):
        call()
    return (time.process_time() - started) / requests * 1e6


def wsgi_request(app: Any, path: str) -> Callable[[], object]:
    """Return a call that sends GET `path` to a WSGI app and reads the whole answer."""
    environ = EnvironBuilder(path=path).get_environ()

    def call() -> object:
        body = app(dict(environ), lambda status, headers, exc_info=None: None)
        try:
            return b"".join(body)
        finally:
            getattr(body, "close", lambda: None)()

    return call


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    requests = parser.parse_args().requests
    env = {
        "DATABASE_URL": run.DATABASE_URL,
        "REDIS_URL": run.REDIS_URL,
        "REDIS_KEY_PREFIX": run.REDIS_KEY_PREFIX,
        "SECRET_KEY": run.SECRET_KEY,
        "APP_ENV": "production",
        "PASSWORD_RESET_URL": "https://shop.example/reset-password?token={token}",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_ENABLED": "false",
        "CATALOG_CACHE_ENABLED": "false",
    }
    os.environ.update(env)
    with run.bench_database(), run.bench_redis():
        settings = Settings(APP_ENV="development", DATABASE_URL=run.DATABASE_URL, SECRET_KEY=run.SECRET_KEY)
        engine = make_engine(settings.DATABASE_URL, pool_size=1)
        workdir = Path(tempfile.mkdtemp(prefix="shopwright-floor-"))
        ctx = scenarios.Context(make_sessionmaker(engine), "", settings, run.LIBPQ_URL, workdir, 1)
        product_id = int(scenarios.setup_detail(ctx)["product_id"])
        import baseline  # reads the environment set above when imported

        shopwright = create_app()
        reads = shopwright.extensions["shopwright.read_sessions"]
        dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
        variants_statement = inventory._VARIANTS_FOR_SALE[True]  # the statement itself
        product_params = {"product_id": product_id}
        variants_params = {"product_ids": [product_id]}
        # The SQL text SQLAlchemy sends, with its own literal parameters (coalesce's 0) filled in.
        compiled = display._BY_ID.compile(dialect=dialect)
        product_sql, raw_product_params = str(compiled), {**compiled.params, **product_params}
        compiled = variants_statement.compile(dialect=dialect)
        variants_sql, raw_variants_params = str(compiled), {**compiled.params, **variants_params}

        raw = psycopg.connect(run.LIBPQ_URL, autocommit=True)
        core = reads.kw["bind"].connect()
        held = reads()

        def with_psycopg() -> object:
            raw.execute(product_sql, raw_product_params).fetchall()
            return raw.execute(variants_sql, raw_variants_params).fetchall()

        def with_core() -> object:
            core.execute(display._BY_ID, product_params).all()
            return core.execute(variants_statement, variants_params).all()

        def with_held_session() -> object:
            held.execute(display._BY_ID, product_params).all()
            return held.execute(variants_statement, variants_params).all()

        def with_new_session() -> object:
            with reads() as session:
                session.execute(display._BY_ID, product_params).all()
                return session.execute(variants_statement, variants_params).all()

        bare = Flask("bare")

        @bare.get("/api/products/<int:product_id>")
        def detail(product_id: int) -> dict[str, Any]:
            with reads() as session:
                return view.product_json(session, product_id)

        path = f"/api/products/{product_id}"
        rows = [
            ("two statements: psycopg", with_psycopg),
            ("two statements: SQLAlchemy Core, held connection", with_core),
            ("two statements: ORM session held open", with_held_session),
            ("two statements: a new ORM session", with_new_session),
            ("request: raw WSGI baseline", wsgi_request(baseline.app, path)),
            ("request: bare Flask + ORM session, product_json", wsgi_request(bare, path)),
            ("request: Shopwright", wsgi_request(shopwright, path)),
        ]
        results = [(name, cpu_per_call(call, requests)) for name, call in rows]
        held.close()
        core.close()
        raw.close()
        engine.dispose()
    print(f"CPU µs per request, {requests} requests each after {WARMUP} warm-up ({run._git_commit()})")
    first = {True: results[0][1], False: results[4][1]}
    for name, micros in results:
        base = first[name.startswith("two")]
        print(f"{name:<52} {micros:8.0f}   {micros / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
