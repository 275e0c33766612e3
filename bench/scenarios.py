"""The bench's scenarios: what each seeds, which request wrk sends, how the two servers' answers compare.

A scenario is a `Scenario` in `SCENARIOS`: a setup (seeds the bench database through the project's own
use cases or bulk SQL and returns the values the path, headers and script arguments need), the request
(path and headers as str.format templates, or a wrk Lua script in bench/), optionally a `before_run`
that restores what a wrk run consumed, and a `check` (default: both servers answer the GET with 200 and
the same JSON). bench/run.py runs them; bench/README.md describes each.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shopwright import create_app, seed
from shopwright.accounts import passwords
from shopwright.accounts import service as accounts
from shopwright.accounts.auth import mint_tokens
from shopwright.accounts.schemas import RegisterIn
from shopwright.accounts.tokens import Grant
from shopwright.cart import service as cart
from shopwright.cart.schemas import CartItemIn
from shopwright.catalog.schemas import CategoryCreate, ProductCreate, VariantCreate, VariantUpdate
from shopwright.catalog.service import create_category
from shopwright.config import Settings
from shopwright.inventory import service as inventory
from shopwright.orders import checkout
from shopwright.orders.pricing import PricingRules
from shopwright.orders.schemas import OrderCreate

CUSTOMER = {"email": "bench@example.com", "password": "bench-password-1", "full_name": "Bench Customer"}
CATALOG_PRODUCTS = 10_000  # the catalog of every catalog and cart scenario (one stocked variant each)


@dataclass(frozen=True)
class Context:
    """What a scenario's setup may use: the bench database and the running Shopwright server."""

    sessions: sessionmaker[Session]
    shopwright_url: str
    settings: Settings  # the servers' SECRET_KEY and database
    libpq_url: str  # the bench database, for psycopg
    workdir: Path  # a temporary directory, removed after the run
    seconds: int  # the longest wrk run


Urls = dict[str, str]  # server name ("shopwright", "baseline") -> base URL
# Sends one request to a server in-process, (method, path, headers, JSON body) -> (status, JSON): the
# run counts the SQL statements each one sends.
Call = Callable[[str, str, dict[str, str], dict[str, Any] | None], tuple[int, Any]]


class Scenario(NamedTuple):
    setup: Callable[[Context], dict[str, str]]  # seeds data; returns the values the templates need
    path: str  # a str.format template, filled with setup's values
    headers: dict[str, str]  # str.format templates, like path
    script: tuple[str, ...] = ()  # a wrk Lua script in bench/ and its arguments (templates, like headers)
    before_run: Callable[[Context], None] | None = None  # restores what a wrk run consumed
    check: Callable[[Urls, dict[str, str]], None] | None = None  # default: run.check_same_answer
    what: str = ""  # what the table's req/s counts, when it is not one request of `path`
    # Sends the scenario's request(s) once as server `name` (its `attempt`-th time; 0 warms up);
    # default: the GET of `path` with `headers`.
    probe: Callable[[Call, str, dict[str, str], int], None] | None = None
    # Shopwright's settings for this scenario, over run.py's (which switch the catalog cache off).
    env: dict[str, str] = {}


def http_json(
    url: str, headers: dict[str, str], body: dict[str, Any] | None = None, method: str | None = None
) -> tuple[int, Any]:
    """Send one request (POST when there is a body) and return (status, parsed JSON or raw text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


# --- shared setup steps ---------------------------------------------------------------------------
def seed_catalog(ctx: Context, products: int = CATALOG_PRODUCTS) -> None:
    """Generate products (one stocked variant each, its id the product's) with the bulk seeder; ANALYZE."""
    with ctx.sessions() as session:
        seed.bulk_products(session, products, lambda _n: None)
        # A live database has planner statistics (autovacuum); a freshly COPYed one has none until
        # ANALYZE, and this server runs with autovacuum off: without them PostgreSQL guesses ~150 rows
        # in `variants` and scans it sequentially for a 20-product page.
        session.execute(text("ANALYZE"))
        session.commit()


def stock_up(ctx: Context) -> None:
    """Give every variant more stock than any run reserves or sells (the bulk seeder's is random)."""
    _execute(ctx, "UPDATE inventory SET quantity = :stock, reserved = 0", {"stock": 1_000_000_000})


def bulk_customers(ctx: Context, count: int, prefix: str) -> list[tuple[int, str]]:
    """Insert `count` customers in one statement; return (user id, access token) for each, in id order."""
    with ctx.sessions.begin() as session:
        insert = text(
            "INSERT INTO users (email, password_hash, full_name)"
            " SELECT :prefix || '-' || n || '@example.com', :password_hash, 'Bench Customer ' || n"
            " FROM generate_series(1, :count) AS n RETURNING id"
        )
        password_hash = passwords.hash_password(CUSTOMER["password"])
        params = {"prefix": prefix, "password_hash": password_hash, "count": count}
        user_ids = sorted(session.scalars(insert, params).all())
    return list(zip(user_ids, mint_access_tokens(ctx, user_ids), strict=True))


def mint_access_tokens(ctx: Context, user_ids: list[int]) -> list[str]:
    """Mint the access tokens a login hands out (valid a day): an argon2 login each would take long."""
    settings = ctx.settings.model_copy(update={"JWT_ACCESS_TTL_MINUTES": 24 * 60})
    app = create_app(settings)
    expires = datetime.now(UTC) + timedelta(days=settings.JWT_REFRESH_TTL_DAYS)
    with app.app_context():
        return [
            mint_tokens(Grant(user_id, "customer", f"bench-{user_id}", f"bench-{user_id}", expires))[
                "access_token"
            ]
            for user_id in user_ids
        ]


def fill_cart(ctx: Context, user_id: int, lines: list[tuple[int, int]]) -> None:
    """Add (variant id, quantity) lines to the customer's cart through the cart's use case."""
    rules = cart.CartRules.from_settings(ctx.settings)
    with ctx.sessions() as session:
        for variant_id, quantity in lines:
            cart.add_item(session, user_id, CartItemIn(variant_id=variant_id, quantity=quantity), rules=rules)


def _execute(ctx: Context, statement: str, params: dict[str, Any] | None = None) -> None:
    with ctx.sessions.begin() as session:
        session.execute(text(statement), params or {})


def _wait_until_idle(ctx: Context) -> None:
    """Wait until no other session on the bench database has been busy for half a second.

    When wrk stops, the servers still finish the requests it had sent: a reset before they commit would
    miss their writes.
    """
    busy = (
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state <> 'idle'"
    )
    deadline, quiet_since = time.monotonic() + 30, time.monotonic()
    with psycopg.connect(ctx.libpq_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(busy).fetchone()
            if row is not None and row[0] > 0:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= 0.5:
                return
            time.sleep(0.05)
    raise SystemExit("the bench database stayed busy for 30 s after a run")


# --- me, products ---------------------------------------------------------------------------------
def setup_customer_token(ctx: Context) -> dict[str, str]:
    """Register a customer through the use case, then log in over HTTP for a real access token."""
    with ctx.sessions() as session:
        accounts.register_user(session, RegisterIn.model_validate(CUSTOMER))
    login = {"email": CUSTOMER["email"], "password": CUSTOMER["password"]}
    status, body = http_json(ctx.shopwright_url + "/api/auth/login", {}, login)
    if status != 200:
        raise SystemExit(f"login failed with {status}: {body}")
    return {"access_token": body["access_token"]}


def setup_catalog(ctx: Context) -> dict[str, str]:
    """The 10,000-product catalog."""
    seed_catalog(ctx)
    return {}


# --- detail ---------------------------------------------------------------------------------------
def setup_detail(ctx: Context) -> dict[str, str]:
    """The catalog and a product in a category of its own with four variants: one withdrawn, one sold out."""
    seed_catalog(ctx)
    with ctx.sessions() as session:
        category_id = create_category(session, CategoryCreate(name="Bench Tents", description="For tents")).id
    sizes = [("S", 7), ("M", 0), ("L", 12), ("XL", 3)]
    variants = [
        VariantCreate(
            sku=f"BENCH-TENT-{size}",
            name=f"Bench tent, size {size}",
            price_cents=19_900 + n * 1_000,
            attributes={"size": size, "colour": "green"},
            stock_quantity=stock,
            is_default=n == 0,
        )
        for n, (size, stock) in enumerate(sizes)
    ]
    data = ProductCreate(
        name="Bench tent", description="A tent with four sizes.", category_id=category_id, variants=variants
    )
    with ctx.sessions() as session:
        product_id = inventory.create_product(session, data).id
    with ctx.sessions() as session:
        last = text("SELECT max(id) FROM variants WHERE product_id = :p")
        withdrawn = session.scalar(last, {"p": product_id})
    with ctx.sessions() as session:
        inventory.update_variant(session, product_id, withdrawn, VariantUpdate(is_active=False))
    _execute(ctx, "ANALYZE")
    return {"product_id": str(product_id)}


# --- cart reads -----------------------------------------------------------------------------------
CART_LINES = 3


def _cart_lines(n: int) -> list[tuple[int, int]]:
    """Customer n's three lines: distinct variants of the catalog, 1-3 units each."""
    return [(1 + (n * CART_LINES + k) * 7919 % CATALOG_PRODUCTS, 1 + (n + k) % 3) for k in range(CART_LINES)]


def _carts_outlive_the_run(ctx: Context) -> None:
    """A read never touches the cart: move the expiry a day ahead so no cart lapses during the runs."""
    _execute(ctx, "UPDATE carts SET expires_at = now() + interval '1 day'")
    with psycopg.connect(ctx.libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def setup_cart(ctx: Context) -> dict[str, str]:
    """One customer with three lines in the cart."""
    seed_catalog(ctx)
    stock_up(ctx)
    [(user_id, token)] = bulk_customers(ctx, 1, "cart")
    fill_cart(ctx, user_id, _cart_lines(0))
    _carts_outlive_the_run(ctx)
    return {"access_token": token}


CART_READERS = 64


def setup_cart_readers(ctx: Context) -> dict[str, str]:
    """64 customers with three lines each; wrk sends each request as the next customer (tokens.lua)."""
    seed_catalog(ctx)
    stock_up(ctx)
    customers = bulk_customers(ctx, CART_READERS, "reader")
    for n, (user_id, _token) in enumerate(customers):
        fill_cart(ctx, user_id, _cart_lines(n))
    _carts_outlive_the_run(ctx)
    tokens_file = ctx.workdir / "cart-tokens.txt"
    tokens_file.write_text("".join(f"{token}\n" for _user_id, token in customers))
    return {"tokens_file": str(tokens_file), "access_token": customers[0][1]}


# --- cart-add ------------------------------------------------------------------------------------
CART_WRITERS = 64  # more than wrk's connections: cart_add.lua always finds a customer with no request out


def setup_cart_add(ctx: Context) -> dict[str, str]:
    """64 customers with an empty cart each (cart_add.lua), and two more for the check."""
    seed_catalog(ctx)
    stock_up(ctx)
    customers = bulk_customers(ctx, CART_WRITERS + 2, "writer")
    rules = cart.CartRules.from_settings(ctx.settings)
    with ctx.sessions() as session:  # opens each customer's cart, empty
        carts = [cart.view_cart(session, user_id, rules=rules)["id"] for user_id, _token in customers]
    lines = [
        f"{cart_id} {1 + n * 7919 % CATALOG_PRODUCTS} {token}"
        for n, (cart_id, (_user_id, token)) in enumerate(zip(carts, customers, strict=True))
    ]
    tokens_file = ctx.workdir / "cart-add-customers.txt"
    tokens_file.write_text("".join(f"{line}\n" for line in lines[:CART_WRITERS]))
    reset_carts(ctx)
    return {
        "customers_file": str(tokens_file),
        "shopwright_check_token": customers[-2][1],
        "baseline_check_token": customers[-1][1],
    }


def reset_carts(ctx: Context) -> None:
    """Empty every cart and release its reservations (a run stops between an add and its remove)."""
    _wait_until_idle(ctx)
    _execute(ctx, "DELETE FROM cart_items")
    _execute(ctx, "UPDATE inventory SET reserved = 0")
    _execute(ctx, "UPDATE carts SET held_since = NULL, expires_at = now() + interval '1 day'")
    with psycopg.connect(ctx.libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


CHECK_VARIANT = 4_242


def check_cart_add(urls: Urls, values: dict[str, str]) -> None:
    """Add then remove the same variant as two fresh customers on each server: the same answers, ids aside."""
    shapes: dict[str, list[Any]] = {}
    for name, url in urls.items():
        headers = {"Authorization": f"Bearer {values[f'{name}_check_token']}"}
        status, added = http_json(
            url + "/api/cart/items", headers, {"variant_id": CHECK_VARIANT, "quantity": 2}
        )
        if status != 201 or not isinstance(added, dict) or len(added["items"]) != 1:
            raise SystemExit(f"{name} answered {status} on POST /api/cart/items: {added}")
        line = added["items"][0]["id"]
        status, removed = http_json(f"{url}/api/cart/items/{line}", headers, method="DELETE")
        if status != 200:
            raise SystemExit(f"{name} answered {status} on DELETE /api/cart/items/{line}: {removed}")
        shapes[name] = [_cart_shape(added), _cart_shape(removed)]
    if shapes["shopwright"] != shapes["baseline"]:
        raise SystemExit(f"the servers answer differently: {shapes}")


def probe_cart_add(call: Call, name: str, values: dict[str, str], attempt: int) -> None:
    """Add a line, then remove it, as the server's check customer."""
    headers = {"Authorization": f"Bearer {values[f'{name}_check_token']}"}
    status, added = call("POST", "/api/cart/items", headers, {"variant_id": CHECK_VARIANT, "quantity": 1})
    if status != 201:
        raise SystemExit(f"{name} answered {status} on POST /api/cart/items: {added}")
    status, removed = call("DELETE", f"/api/cart/items/{added['items'][0]['id']}", headers, None)
    if status != 200:
        raise SystemExit(f"{name} answered {status} on DELETE /api/cart/items/<id>: {removed}")


def _cart_shape(body: dict[str, Any]) -> dict[str, Any]:
    """Replace the cart's and lines' ids and the expiry (they differ between two carts) by their types."""
    shape = {**body, "id": type(body["id"]).__name__, "expires_at": type(body["expires_at"]).__name__}
    for key in ("items", "saved_items"):
        shape[key] = [{**line, "id": type(line["id"]).__name__} for line in body[key]]
    return shape


# --- orders ---------------------------------------------------------------------------------------
ORDERS = 10


def setup_orders(ctx: Context) -> dict[str, str]:
    """One customer with ten orders of 1-3 lines (through checkout), every third with a declined payment."""
    seed_catalog(ctx)
    stock_up(ctx)
    [(user_id, token)] = bulk_customers(ctx, 1, "orders")
    rules = PricingRules.from_settings(ctx.settings)
    order = OrderCreate(delivery_address="1 Bench Street, Testville")
    for n in range(ORDERS):
        fill_cart(ctx, user_id, _cart_lines(n)[: 1 + n % 3])
        with ctx.sessions() as session:
            checkout.place_order(session, user_id, order, rules=rules)
    _execute(
        ctx,
        "INSERT INTO payments (order_id, user_id, provider, status, amount_cents, currency, failure_code)"
        " SELECT id, user_id, 'fake', 'failed', total_cents, currency, 'card_declined' FROM orders"
        " WHERE id % 3 = 0",
    )
    with psycopg.connect(ctx.libpq_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return {"access_token": token}


# --- checkout -------------------------------------------------------------------------------------
CHECKOUT_PRODUCTS = 1_000  # each cart takes 1-3 of them: concurrent checkouts rarely wait on one stock row
CHECKOUTS_PER_SECOND = 3_000  # more than either server reaches here: one customer (cart) per request a run
CART_PERIOD = 3_000  # customers n and n + CART_PERIOD get the same cart (refill_carts)
CHECKOUT_BODY = {"delivery_address": "1 Bench Street, Testville"}  # tokens.lua sends the same


def setup_checkout(ctx: Context) -> dict[str, str]:
    """Seed products and customers in bulk SQL, give each a cart, write one access token per customer."""
    seed_catalog(ctx, CHECKOUT_PRODUCTS)
    # Prices 1.00-14.99 and 1-2 units a line keep every order under free shipping (each total has
    # shipping); stock never runs out. (One variant a product, with the product's id.)
    _execute(ctx, "UPDATE variants SET price_cents = 100 + id * 37 % 1400, cost_cents = 50")
    _execute(ctx, "UPDATE products SET min_price_cents = 100 + id * 37 % 1400")
    stock_up(ctx)
    customers = bulk_customers(ctx, CHECKOUTS_PER_SECOND * ctx.seconds, "checkout")
    refill_carts(ctx)
    tokens_file = ctx.workdir / "checkout-tokens.txt"
    tokens_file.write_text("".join(f"{token}\n" for _user_id, token in customers))
    return {
        "tokens_file": str(tokens_file),
        "shopwright_check_token": customers[0][1],
        "baseline_check_token": customers[CART_PERIOD][1],  # the same cart as the first customer's
        # Customers of the same three-line carts on both servers, for counting statements.
        **{f"shopwright_probe_token_{n}": customers[3 * n + 1][1] for n in range(2)},
        **{f"baseline_probe_token_{n}": customers[CART_PERIOD + 3 * n + 1][1] for n in range(2)},
    }


def refill_carts(
    ctx: Context, lines: int | None = None, users: list[int] | None = None, products: int = CHECKOUT_PRODUCTS
) -> None:
    """Give each customer without an active cart a new one, reserved; then VACUUM ANALYZE (no autovacuum).

    Customer n's cart holds `lines` lines (default 1 + n % 3) of distinct variants (ids 1..`products`,
    at least `lines` of them), 1-2 units each; `users` limits it to those customers (default: all).
    """
    refill = """
        WITH new_carts AS (
            INSERT INTO carts (user_id, status, expires_at)
            SELECT id, 'active', now() + interval '1 day' FROM users
            WHERE NOT EXISTS (SELECT FROM carts WHERE user_id = users.id AND status = 'active')
              AND (%(users)s::bigint[] IS NULL OR id = ANY(%(users)s::bigint[]))
            RETURNING id, user_id
        ), new_lines AS (
            INSERT INTO cart_items (cart_id, variant_id, quantity)
            SELECT id, 1 + (user_id * %(stride)s + k) * 7919 %% %(products)s, 1 + (user_id + k) %% 2
            FROM new_carts CROSS JOIN generate_series(0, %(stride)s - 1) AS k
            WHERE k < coalesce(%(lines)s::int, 1 + user_id %% 3)
            RETURNING variant_id, quantity
        )
        UPDATE inventory SET reserved = reserved + held.quantity
        FROM (SELECT variant_id, sum(quantity) AS quantity FROM new_lines GROUP BY variant_id) AS held
        WHERE inventory.variant_id = held.variant_id
    """
    params = {"products": products, "lines": lines, "stride": lines or 3, "users": users}
    _wait_until_idle(ctx)
    with psycopg.connect(ctx.libpq_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(refill, params)
        conn.execute("VACUUM ANALYZE")


def probe_checkout(call: Call, name: str, values: dict[str, str], attempt: int) -> None:
    """Check out as another customer each attempt (a checkout consumes the cart; refill_carts refills it)."""
    token = values[f"{name}_probe_token_{attempt}"]
    status, body = call("POST", "/api/orders", {"Authorization": f"Bearer {token}"}, CHECKOUT_BODY)
    if status != 201:
        raise SystemExit(f"{name} answered {status} on POST /api/orders: {body}")


def check_same_checkout(urls: Urls, values: dict[str, str]) -> None:
    """Both servers must turn the same cart into the same order (201), ids and timestamps aside."""
    orders = {}
    for name, url in urls.items():
        headers = {"Authorization": f"Bearer {values[f'{name}_check_token']}"}
        status, body = http_json(url + "/api/orders", headers, CHECKOUT_BODY)
        if status != 201:
            raise SystemExit(f"{name} answered {status} on POST /api/orders: {body}")
        orders[name] = body
    shapes = {name: _order_shape(order) for name, order in orders.items()}
    if shapes["shopwright"] != shapes["baseline"]:
        raise SystemExit(f"the servers answer differently: {orders}")


def _order_shape(order: dict[str, Any]) -> dict[str, Any]:
    """Replace the values that differ between two checkouts of the same cart by their type names."""
    volatile = {"id", "user_id", "created_at", "updated_at"}
    shape = {key: type(value).__name__ if key in volatile else value for key, value in order.items()}
    shape["items"] = [{**item, "id": type(item["id"]).__name__} for item in order["items"]]
    return shape


def _template(literal: str) -> str:
    """Escape a literal for str.format (the script arguments are templates)."""
    return literal.replace("{", "{{").replace("}", "}}")


BEARER = {"Authorization": "Bearer {access_token}"}
SCENARIOS: dict[str, Scenario] = {
    "me": Scenario(setup_customer_token, "/api/auth/me", BEARER),
    "products": Scenario(setup_catalog, "/api/products?limit=20", {}),
    # The same request and baseline handler; Shopwright answers from its catalog cache, kept warm.
    "products-cached": Scenario(
        setup_catalog, "/api/products?limit=20", {}, env={"CATALOG_CACHE_ENABLED": "true"}
    ),
    "detail": Scenario(setup_detail, "/api/products/{product_id}", {}),
    "cart": Scenario(setup_cart, "/api/cart", BEARER),
    "cart-64": Scenario(setup_cart_readers, "/api/cart", BEARER, ("tokens.lua", "{tokens_file}")),
    "cart-add": Scenario(
        setup_cart_add,
        "/api/cart/items",
        {},
        ("cart_add.lua", "{customers_file}"),
        before_run=reset_carts,
        check=check_cart_add,
        probe=probe_cart_add,
        what="requests: adds and removes, half each (pairs/s = req/s ÷ 2)",
    ),
    "orders": Scenario(setup_orders, "/api/orders", BEARER),
    "checkout": Scenario(
        setup_checkout,
        "/api/orders",
        {},
        ("tokens.lua", "{tokens_file}", "POST", _template(json.dumps(CHECKOUT_BODY))),
        before_run=refill_carts,
        check=check_same_checkout,
        probe=probe_checkout,
    ),
}
