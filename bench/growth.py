"""Cost growth: how Shopwright's latencies and times grow with the data, as tables and charts.

    python bench/growth.py                       # the full run (about 20-30 min on 2 cores)
    python bench/growth.py --quick               # a smoke run on small sizes (a few minutes)
    python bench/growth.py --only checkout       # re-measure one part; the others' numbers are kept

Four parts, each measured by the bench that already exists for it:

- catalog: p95 of every product-list request of bench/catalog_1m.py (first pages, deep cursors,
  searches, filters), 200 sequential requests each through gunicorn, at 10k, 100k and 1M products
  (one database, topped up between sizes by `flask seed-db --products`, COPY).
- checkout: p50/p95 of `POST /api/orders` through gunicorn for carts of 1, 10, 50 and 100 lines, 120
  checkouts per size (each consumes a cart: every checkout is another customer's, carts inserted by
  scenarios.refill_carts, tokens minted as bench/run.py does), sequential.
- import: seconds for bench/import.py's three service-level imports (create, the same file again,
  update every row) of 1k, 10k and 100k rows, each size on a fresh database.
- reports: p95 of each report of bench/reports.py through the service layer at 10k and 100k orders
  (10 lines each), each size on a freshly seeded database.

Each part writes bench/results/growth-<part>.json (its numbers, the commit, the date, the load average)
and bench/results/growth-<part>.png; bench/results/growth.md is then rebuilt from every part's JSON.
`--quick` writes growth-quick* instead (ignored by git). Databases are named shopwright_growth_* and
dropped at the end; Redis DB 13, keys under `shopwright-growth:`. Needs `pip install -e ".[dev,bench]"`
(matplotlib), PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DATABASE_PREFIX = "shopwright_growth_"
REDIS_URL = "redis://127.0.0.1:6379/13"  # run.py uses 14, the tests 15
REDIS_KEY_PREFIX = "shopwright-growth"
WARMUP = 5  # requests or checkouts per point not counted (connections, caches)
CHECKOUT_BODY = {"delivery_address": "1 Bench Street, Testville"}


@dataclass(frozen=True)
class Plan:
    """The sizes and sample counts of one run."""

    catalog: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    cart_lines: tuple[int, ...] = (1, 10, 50, 100)
    import_rows: tuple[int, ...] = (1_000, 10_000, 100_000)
    orders: tuple[int, ...] = (10_000, 100_000)
    reads: int = 200  # requests per catalog point
    checkouts: int = 120  # per cart size
    report_runs: int = 100  # calls per report and size


QUICK = Plan(
    catalog=(1_000, 10_000),
    cart_lines=(1, 10),
    import_rows=(1_000, 10_000),
    orders=(1_000, 10_000),
    reads=50,
    checkouts=30,
    report_runs=20,
)


@dataclass
class Figure:
    """One part's numbers: a value per series and size, and how to draw them."""

    key: str  # the part: catalog, checkout, import, reports
    title: str
    x_label: str
    unit: str  # of the values: "ms" or "s"
    what: str  # the statistic, for the table's first column ("p95 ms")
    sizes: list[int]
    series: dict[str, list[float]]  # name -> one value per size
    notes: list[str] = field(default_factory=list)
    stamp: dict[str, Any] = field(default_factory=dict)
    log_y: bool = False
    log_x: bool = True  # sizes a decade apart; False where the cost per unit should show as a straight line
    grouped: bool = False  # series named "kind, variant": drawn a colour per kind, a style per variant


# --- stamping -------------------------------------------------------------------------------------
def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def stamp_start() -> dict[str, Any]:
    """What a part's numbers were measured on: the commit (and whether the tree had changes), when, load."""
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(dirty),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_start": load_average(),
        "cpus": os.cpu_count(),
    }


def stamp_end(stamp: dict[str, Any], seconds: float) -> dict[str, Any]:
    return {**stamp, "load_end": load_average(), "minutes": round(seconds / 60, 1)}


# --- measuring --------------------------------------------------------------------------------------
def _bench_modules() -> dict[str, Any]:
    """The benches this one drives (imported on use: the rendering needs none of them)."""
    sys.path.insert(0, str(BENCH))
    names = ["run", "scenarios", "catalog_1m", "import", "reports"]
    return {name: importlib.import_module(name) for name in names}  # `import` is a keyword: by name


def _url(database: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"


def _drop(database: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@contextmanager
def _server(bench: dict[str, Any], url: str, overrides: dict[str, str] | None = None) -> Iterator[Any]:
    """Shopwright under gunicorn as bench/run.py serves it, on the database at `url`, Redis DB 13."""
    run = bench["run"]
    env = run.server_env(url, REDIS_URL, REDIS_KEY_PREFIX, run.SECRET_KEY, overrides or {})
    # Sequential requests on one connection; wrk's usual 16 only size the workers' connection slots.
    with run.gunicorn("shopwright", "shopwright:create_app()", env, [], 16) as server:
        yield server


def measure_catalog(bench: dict[str, Any], plan: Plan) -> Figure:
    """p95 of each list request of catalog_1m.py at each catalog size (one database, topped up)."""
    catalog_1m, database = bench["catalog_1m"], DATABASE_PREFIX + "catalog"
    url = _url(database)
    series: dict[str, list[float]] = {}
    notes = []
    try:
        for number, size in enumerate(plan.catalog):
            started = time.perf_counter()
            count = catalog_1m.prepare_database(size, number == 0, url)
            notes.append(f"{count:,} products seeded and analysed in {time.perf_counter() - started:.0f} s")
            with _server(bench, url) as server:
                port = int(server.url.rsplit(":", 1)[1])
                for name, path in catalog_1m.request_cases(url):
                    _p50, p95, _worst, _items = catalog_1m.time_requests(port, path, plan.reads)
                    series.setdefault(name, []).append(round(p95, 2))
                    print(f"catalog {size:>9,} {name:<34} p95 {p95:7.2f} ms", flush=True)
    finally:
        _drop(database)
    return Figure(
        "catalog",
        "Product list and search: p95 vs catalog size",
        "products in the catalog",
        "ms",
        "p95 ms",
        list(plan.catalog),
        series,
        [
            *notes,
            f"{plan.reads} sequential requests per kind and size (after {WARMUP} warm-up requests) through "
            "gunicorn (bench/run.py's settings), catalog cache off: the database path.",
        ],
    )


def measure_checkout(bench: dict[str, Any], plan: Plan) -> Figure:
    """p50/p95 of POST /api/orders per cart size, each checkout another customer's cart."""
    from sqlalchemy.orm import Session, sessionmaker

    from shopwright.config import Settings
    from shopwright.db import make_engine, make_sessionmaker

    run, scenarios = bench["run"], bench["scenarios"]
    database = DATABASE_PREFIX + "checkout"
    url = _url(database)
    most = max(plan.cart_lines)
    settings = Settings(APP_ENV="development", DATABASE_URL=url, SECRET_KEY=run.SECRET_KEY)
    # A cart may hold CART_MAX_LINES lines (default 100); the carts here are inserted by SQL, but the
    # server gets the limit the largest cart needs so no rule of the checkout refuses one.
    overrides = {"CART_MAX_LINES": str(max(most, settings.CART_MAX_LINES))}
    p50s, p95s = [], []
    with (
        run.bench_database(database),
        run.bench_redis(REDIS_URL, REDIS_KEY_PREFIX),
        tempfile.TemporaryDirectory(prefix="shopwright-growth-") as workdir,
        _server(bench, url, overrides) as server,
    ):
        engine = make_engine(url, pool_size=1)
        sessions: sessionmaker[Session] = make_sessionmaker(engine)
        libpq = url.replace("+psycopg", "")
        ctx = scenarios.Context(sessions, server.url, settings, libpq, Path(workdir), 1)
        try:
            scenarios.seed_catalog(ctx, scenarios.CHECKOUT_PRODUCTS)
            scenarios.stock_up(ctx)
            for lines in plan.cart_lines:
                customers = scenarios.bulk_customers(ctx, plan.checkouts + WARMUP, f"lines-{lines}")
                scenarios.refill_carts(ctx, lines=lines, users=[user_id for user_id, _token in customers])
                timings = _checkouts(server.url, [token for _user_id, token in customers], lines)
                p50s.append(round(statistics.median(timings), 2))
                p95s.append(round(percentile(timings, 95), 2))
                print(
                    f"checkout {lines:>3} lines  p50 {p50s[-1]:7.2f} ms  p95 {p95s[-1]:7.2f} ms", flush=True
                )
        finally:
            engine.dispose()
    return Figure(
        "checkout",
        "Checkout (POST /api/orders): latency vs cart lines",
        "lines in the cart",
        "ms",
        "ms",
        list(plan.cart_lines),
        {"p50": p50s, "p95": p95s},
        [
            f"{plan.checkouts} checkouts per cart size (after {WARMUP} warm-up ones), one after the other, "
            f"each a different customer's reserved cart, on a {scenarios.CHECKOUT_PRODUCTS:,}-product "
            "catalog, through gunicorn (bench/run.py's settings, OUTBOX_DELIVERY=worker: the order's "
            "emails and webhooks are queued, not sent, in the request).",
            f"CART_MAX_LINES={overrides['CART_MAX_LINES']} for the server (the default, 100, is enough).",
        ],
        log_x=False,
    )


def _checkouts(base_url: str, tokens: list[str], lines: int) -> list[float]:
    """Check out as each token's customer in turn; return the latencies (ms) after the warm-up."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    body = json.dumps(CHECKOUT_BODY)
    timings = []
    try:
        for number, token in enumerate(tokens):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            started = time.perf_counter()
            conn.request("POST", "/api/orders", body, headers)
            response = conn.getresponse()
            answer = response.read()
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 201:
                raise SystemExit(f"checkout of {lines} lines answered {response.status}: {answer[:300]!r}")
            if len(json.loads(answer)["items"]) != lines:
                raise SystemExit(f"an order of {lines} lines came back with another count")
            if number >= WARMUP:
                timings.append(elapsed)
    finally:
        conn.close()
    return timings


def measure_import(bench: dict[str, Any], plan: Plan) -> Figure:
    """Seconds of bench/import.py's three service-level imports at each row count."""
    importer = bench["import"]
    # The series, by the start of import.py's labels for them (it also times an export and its re-import).
    labels = {
        "create": "service: create",
        "same file again": "service: same file",
        "update every row": "service: update",
    }
    series: dict[str, list[float]] = {name: [] for name in labels}
    for rows in plan.import_rows:
        results: list[tuple[str, float, Any]] = []
        importer.through_service(rows, results, False, DATABASE_PREFIX + "import")
        for name, start in labels.items():
            [seconds] = [seconds for label, seconds, _answer in results if label.startswith(start)]
            series[name].append(round(seconds, 3))
    return Figure(
        "import",
        "Product import: time vs rows",
        "rows in the file",
        "s",
        "seconds",
        list(plan.import_rows),
        series,
        [
            "bench/import.py's file (every column, six category paths) through the use case "
            "(`importing.import_products`, no HTTP), each size on a fresh database: create the products, "
            "import the same file again (nothing changes), then a file changing every price and stock."
        ],
        log_y=True,
    )


def measure_reports(bench: dict[str, Any], plan: Plan) -> Figure:
    """p95 of every case of bench/reports.py at each order count, each on a freshly seeded database."""
    reports, database = bench["reports"], DATABASE_PREFIX + "reports"
    series: dict[str, list[float]] = {}
    notes = []
    try:
        for orders in plan.orders:
            started = time.perf_counter()
            reports.prepare_database(orders, 10, True, database)
            notes.append(f"{orders:,} orders seeded in {time.perf_counter() - started:.0f} s")
            rows, _plans = reports.measure(plan.report_runs, _url(database), with_plans=False)
            for name, _p50, p95, _worst, _statements in rows:
                series.setdefault(name, []).append(round(p95, 2))
    finally:
        _drop(database)
    return Figure(
        "reports",
        "Back-office reports: p95 vs orders",
        "orders (10 lines each)",
        "ms",
        "p95 ms",
        list(plan.orders),
        series,
        [
            *notes,
            f"{plan.report_runs} calls per report and size after a warm-up, through "
            "`shopwright.reports.service` (no HTTP), bench/reports.py's data: orders spread over two years, "
            "2,000 products.",
        ],
        log_y=True,
        grouped=True,
    )


MEASURES: dict[str, Callable[[dict[str, Any], Plan], Figure]] = {
    "catalog": measure_catalog,
    "checkout": measure_checkout,
    "import": measure_import,
    "reports": measure_reports,
}


def percentile(values: list[float], pct: int) -> float:
    """The nearest-rank percentile (as catalog_1m.py and reports.py take their p95)."""
    ordered = sorted(values)
    return ordered[max(0, round(pct / 100 * len(ordered)) - 1)]


# --- writing ---------------------------------------------------------------------------------------
def _size(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def _value(v: float) -> str:
    return f"{v:,.0f}" if v >= 100 else f"{v:.2f}" if v < 10 else f"{v:.1f}"


def table(figure: Figure) -> list[str]:
    """A markdown table: one row per series, one column per size, and the largest ÷ the smallest."""
    head = f"| {figure.what} | " + " | ".join(_size(n) for n in figure.sizes) + " | growth |"
    lines = [head, "|---|" + "---:|" * (len(figure.sizes) + 1)]
    for name, values in figure.series.items():
        growth = f"x {values[-1] / values[0]:.1f}" if values and values[0] > 0 else ""
        lines.append(f"| {name} | " + " | ".join(_value(v) for v in values) + f" | {growth} |")
    return lines


def chart(figure: Figure, path: Path) -> None:
    """Draw the figure's series against its sizes (log x) to a PNG, without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator

    fig, ax = plt.subplots(figsize=(9, 5.5), dpi=100)
    styles = ["-", "--", ":", "-."]
    names = list(figure.series)
    looks: list[tuple[Any, str]]  # (matplotlib colour, line style) per series
    if figure.grouped:  # "report, window": a colour per report, a line style per window
        kinds = list(dict.fromkeys(name.split(", ")[0] for name in names))
        windows = list(dict.fromkeys(name.split(", ", 1)[-1] for name in names))
        looks = [
            (f"C{kinds.index(name.split(', ')[0])}", styles[windows.index(name.split(", ", 1)[-1]) % 4])
            for name in names
        ]
    else:
        palette = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
        looks = [(palette(number % palette.N), "-") for number in range(len(names))]
    for name, (colour, style) in zip(names, looks, strict=True):
        ax.plot(figure.sizes, figure.series[name], style, color=colour, marker="o", label=name)
    if figure.log_x:
        ax.set_xscale("log")
    values = [v for series in figure.series.values() for v in series if v > 0]
    if figure.log_y or (values and max(values) / min(values) > 20):  # flat lines stay visible by steep ones
        ax.set_yscale("log")
    else:
        ax.set_ylim(bottom=0)
    ax.set_xticks(figure.sizes, [_size(n) for n in figure.sizes])
    ax.xaxis.set_minor_locator(NullLocator())  # only the measured sizes are labelled
    ax.set_xlabel(figure.x_label)
    ax.set_ylabel(f"{figure.what}" if figure.unit in figure.what else f"{figure.what} ({figure.unit})")
    stamp = figure.stamp
    dirty = " + uncommitted changes" if stamp.get("dirty") else ""
    ax.set_title(
        f"{figure.title}\n{stamp.get('commit', '?')}{dirty}, {stamp.get('started', '?')}", fontsize=10
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


INTRO = [
    'Written by `python bench/growth.py` (see bench/README.md, "Cost growth"): how each cost grows with the '
    "data. Each part is stamped with the commit it measured (and whether the tree had uncommitted changes), "
    "when, and the machine's load average before and after. The growth column is the value at the largest "
    "size divided by the value at the smallest.",
    "",
    "**The machine is shared**: 2 vCPUs, with three other agents' test suites and benches running at the "
    "same time, so single points can be noisy; read the shape of the curves more than any one number.",
]


def markdown(figures: list[Figure], stem: str) -> str:
    out = ["# Cost growth", "", *INTRO]
    for figure in figures:
        s = figure.stamp
        dirty = " (with uncommitted changes)" if s.get("dirty") else ""
        out += [
            "",
            f"## {figure.title}",
            "",
            f"Commit measured: `{s.get('commit', '?')}`{dirty}; {s.get('started', '?')}, "
            f"{s.get('minutes', '?')} min; load average {s.get('load_start', '?')} before, "
            f"{s.get('load_end', '?')} after ({s.get('cpus', '?')} CPUs).",
            "",
            *table(figure),
            "",
            *[f"- {note}" for note in figure.notes],
            "",
            f"![{figure.title}]({stem}-{figure.key}.png)",
        ]
    return "\n".join(out) + "\n"


def write(figures: list[Figure], results: Path, stem: str) -> None:
    """Save each figure's JSON and chart, then rebuild the markdown from every part's JSON there."""
    results.mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (results / f"{stem}-{figure.key}.json").write_text(json.dumps(asdict(figure), indent=2) + "\n")
        chart(figure, results / f"{stem}-{figure.key}.png")
    (results / f"{stem}.md").write_text(markdown(stored(results, stem), stem), encoding="utf-8")
    print(f"wrote {results / stem}.md and {len(figures)} chart(s)")


def stored(results: Path, stem: str) -> list[Figure]:
    """The parts measured so far, from their JSON files, in the order of MEASURES."""
    paths = [results / f"{stem}-{key}.json" for key in MEASURES]
    return [Figure(**json.loads(path.read_text())) for path in paths if path.exists()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, few samples (a smoke run)")
    parser.add_argument("--only", default=",".join(MEASURES), help="comma-separated parts (default: all)")
    parser.add_argument(
        "--results", type=Path, default=RESULTS, help="where to write (default bench/results)"
    )
    parser.add_argument(
        "--redraw", action="store_true", help="measure nothing: redraw the charts and the table from the JSON"
    )
    args = parser.parse_args()
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(parts) - set(MEASURES)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(MEASURES)}")
    # A SIGTERM unwinds like Ctrl-C, so the servers stop and the databases are dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    plan, stem = (QUICK, "growth-quick") if args.quick else (Plan(), "growth")
    if args.redraw:
        write(stored(args.results, stem), args.results, stem)
        return
    bench = _bench_modules()
    for part in parts:
        stamp, started = stamp_start(), time.perf_counter()
        figure = MEASURES[part](bench, plan)
        figure.stamp = stamp_end(stamp, time.perf_counter() - started)
        write([figure], args.results, stem)


if __name__ == "__main__":
    main()
