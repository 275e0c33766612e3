"""A bare WSGI app doing by hand what a Shopwright endpoint does: the yardstick bench/run.py compares against.

No Flask, no SQLAlchemy, no Pydantic: the same libraries underneath (PyJWT, redis-py, psycopg 3, the
stdlib json module) called directly. Each scenario of bench/run.py has a handler here, keyed by path.

Run it under gunicorn with the same environment as Shopwright:
    DATABASE_URL=postgresql+psycopg://... REDIS_URL=redis://... SECRET_KEY=... \
    python -m gunicorn --pythonpath bench baseline:app --workers 2 --worker-class gthread --threads 4
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import jwt
import psycopg
import redis
from psycopg.types.json import Json

SECRET_KEY = os.environ["SECRET_KEY"]
# Shopwright's URLs name the SQLAlchemy driver; psycopg wants a plain libpq URL.
DATABASE_URL = os.environ["DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://", 1)
REDIS = redis.Redis.from_url(os.environ["REDIS_URL"])
# The key layout of shopwright.accounts.revocation.RedisRevocations: "<REDIS_KEY_PREFIX>:revoked:<kind>:<id>".
REVOKED = os.environ.get("REDIS_KEY_PREFIX", "shopwright") + ":revoked:"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
Answer = tuple[int, dict[str, Any]]

_local = threading.local()


def _connection() -> psycopg.Connection[tuple[Any, ...]]:
    """Return this thread's connection (one per gthread thread; psycopg_pool is not installed)."""
    conn: psycopg.Connection[tuple[Any, ...]] | None = getattr(_local, "conn", None)
    if conn is None or conn.closed:
        # Autocommit: one SELECT needs no transaction, so no BEGIN/ROLLBACK round trips.
        conn = psycopg.connect(DATABASE_URL, autocommit=True)
        _local.conn = conn
    return conn


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _problem(status: int, title: str, detail: str) -> Answer:
    return status, {"type": "about:blank", "title": title, "status": status, "detail": detail}


def _access_claims(environ: dict[str, Any]) -> dict[str, Any] | None:
    """Decode and check the Bearer access token as accounts.auth.verified_claims does.

    PyJWT, then the Redis revocation list.
    """
    header = environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Bearer "):
        return None
    try:
        claims: dict[str, Any] = jwt.decode(header[7:], SECRET_KEY, algorithms=["HS256"])
    except jwt.PyJWTError:
        return None
    if claims.get("type") != "access":
        return None
    # The same keys as shopwright.accounts.revocation.RedisRevocations, in one MGET.
    keys = [f"{REVOKED}jti:{claims['jti']}", f"{REVOKED}user:{claims['sub']}"]
    if claims.get("fam"):
        keys.append(f"{REVOKED}family:{claims['fam']}")
    jti_hit, user_cutoff, *family_hit = REDIS.mget(keys)
    issued_at = int(claims.get("iat_ms", int(claims["iat"]) * 1000))
    revoked = jti_hit is not None or any(hit is not None for hit in family_hit)
    if revoked or (user_cutoff is not None and issued_at < int(user_cutoff)):
        return None
    return claims


def me(environ: dict[str, Any]) -> Answer:
    """GET /api/auth/me: the current user's profile."""
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    user_id = int(claims["sub"])
    row = (
        _connection()
        .execute(
            "SELECT id, email, full_name, role, is_active, created_at, deleted_at FROM users WHERE id = %s",
            (user_id,),
        )
        .fetchone()
    )
    if row is None or row[6] is not None:
        return _problem(404, "Not Found", f"No user {user_id}")
    return 200, {
        "id": row[0],
        "email": row[1],
        "full_name": row[2],
        "role": row[3],
        "is_active": row[4],
        "created_at": _iso_utc(row[5]),
    }


PRODUCT_COLUMNS = (
    "p.id, p.name, p.slug, p.description, p.min_price_cents, p.currency, p.rating_avg, p.rating_count, "
    "p.created_at, p.updated_at, c.id, c.name, c.slug"
)
# A product's active variants with what can still be bought (no inventory row: nothing).
VARIANT_COLUMNS = (
    "v.id, v.product_id, v.sku, v.name, v.price_cents, v.currency, v.attributes, v.is_default, "
    "coalesce(i.quantity - i.reserved, 0)"
)
VARIANTS_WITH_STOCK = "variants v LEFT JOIN inventory i ON i.variant_id = v.id"


def _variant_out(v: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "id": v[0],
        "sku": v[2],
        "name": v[3],
        "price_cents": v[4],
        "currency": v[5],
        "attributes": v[6] if isinstance(v[6], dict) else json.loads(v[6]),
        "is_default": v[7],
        "available": v[8],
    }


def _product_out(row: tuple[Any, ...], variants: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row[0],
        "name": row[1],
        "slug": row[2],
        "description": row[3],
        "category": {"id": row[10], "name": row[11], "slug": row[12]} if row[10] is not None else None,
        "price_cents": row[4],
        "currency": row[5],
        "in_stock": any(v["available"] > 0 for v in variants),
        "rating_avg": float(row[6]),
        "rating_count": row[7],
        "variants": variants,
        "created_at": _iso_utc(row[8]),
        "updated_at": _iso_utc(row[9]),
    }


def products(environ: dict[str, Any]) -> Answer:
    """GET /api/products?limit=20: the first page, newest first, in two statements.

    The page with its categories (LEFT JOIN: a product may have none), then the page's active variants
    with their stock.
    """
    limit = 20
    conn = _connection()
    rows = conn.execute(
        f"SELECT {PRODUCT_COLUMNS} FROM products p LEFT JOIN categories c ON c.id = p.category_id "
        "WHERE p.deleted_at IS NULL AND p.is_active ORDER BY p.id DESC LIMIT %s",
        (limit + 1,),
    ).fetchall()
    page = rows[:limit]
    variants: dict[int, list[dict[str, Any]]] = {}
    for v in conn.execute(
        f"SELECT {VARIANT_COLUMNS} FROM {VARIANTS_WITH_STOCK} "
        "WHERE v.product_id = ANY(%s) AND v.is_active ORDER BY v.id",
        ([row[0] for row in page],),
    ):
        variants.setdefault(v[1], []).append(_variant_out(v))
    items = [_product_out(row, variants.get(row[0], [])) for row in page]
    next_cursor = None
    if len(rows) > limit:
        raw = json.dumps({"id": page[-1][0]}, separators=(",", ":"), sort_keys=True).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return 200, {"items": items, "next_cursor": next_cursor}


def product(environ: dict[str, Any], product_id: int) -> Answer:
    """GET /api/products/<id>: one product with its category, then its active variants with their stock."""
    conn = _connection()
    row = conn.execute(
        f"SELECT {PRODUCT_COLUMNS} FROM products p LEFT JOIN categories c ON c.id = p.category_id "
        "WHERE p.id = %s AND p.deleted_at IS NULL AND p.is_active",
        (product_id,),
    ).fetchone()
    if row is None:
        return _problem(404, "Not Found", f"No product {product_id}")
    variants = conn.execute(
        f"SELECT {VARIANT_COLUMNS} FROM {VARIANTS_WITH_STOCK} WHERE v.product_id = %s AND v.is_active "
        "ORDER BY v.id",
        (product_id,),
    ).fetchall()
    return 200, _product_out(row, [_variant_out(v) for v in variants])


# The pricing defaults of shopwright.config.Settings (the bench sets none): 5.00 shipping under 100.00
# of goods, no tax.
SHIPPING_CENTS = 500
FREE_SHIPPING_THRESHOLD_CENTS = 10_000


class Refused(Exception):
    """Ends a checkout with a problem answer; its transaction rolls back."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.answer = _problem(status, title, detail)


def place_order(environ: dict[str, Any]) -> Answer:
    """POST /api/orders: the cart becomes a pending order, with Shopwright's statements in one transaction."""
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        body = json.loads(environ["wsgi.input"].read(size))
        address = body["delivery_address"].strip()  # only the free-text address form is supported here
    except (ValueError, TypeError, KeyError, AttributeError):
        return _problem(422, "Unprocessable Content", "delivery_address is required")
    if set(body) != {"delivery_address"} or not 1 <= len(address) <= 500:
        return _problem(422, "Unprocessable Content", "only a free-text delivery_address is supported")
    conn = _connection()
    try:
        with conn.transaction():  # BEGIN … COMMIT on the autocommit connection; ROLLBACK on Refused
            return 201, _checkout(conn, int(claims["sub"]), address)
    except Refused as refused:
        return refused.answer


def _checkout(conn: psycopg.Connection[tuple[Any, ...]], user_id: int, address: str) -> dict[str, Any]:
    """Send the statements of shopwright.orders.checkout.place_order without a voucher, in the same order."""
    now = datetime.now(UTC)
    cart = conn.execute(
        "SELECT id, expires_at FROM carts WHERE user_id = %s AND status = 'active' FOR UPDATE", (user_id,)
    ).fetchone()
    if cart is not None and cart[1] <= now:
        raise Refused(422, "Unprocessable Content", "Your cart expired")
    if cart is None:
        raise Refused(422, "Unprocessable Content", "Add something to your cart before checking out")
    lines = conn.execute(
        "SELECT ci.quantity, v.id, v.product_id, p.name, v.name, v.sku, v.price_cents, v.cost_cents, "
        "v.currency, v.is_active AND p.is_active AND p.deleted_at IS NULL "
        "FROM cart_items ci JOIN variants v ON ci.variant_id = v.id JOIN products p ON v.product_id = p.id "
        "WHERE ci.cart_id = %s AND NOT ci.saved_for_later ORDER BY ci.id",
        (cart[0],),
    ).fetchall()
    if not lines:
        raise Refused(422, "Unprocessable Content", "Add something to your cart before checking out")
    if not all(line[9] for line in lines):
        raise Refused(422, "Unprocessable Content", "No longer available")
    subtotal = sum(line[0] * line[6] for line in lines)
    shipping = 0 if subtotal >= FREE_SHIPPING_THRESHOLD_CENTS else SHIPPING_CENTS
    currency = lines[0][8]
    inserted = conn.execute(
        "INSERT INTO orders (user_id, status, currency, subtotal_cents, discount_cents, shipping_cents, "
        "tax_cents, total_cents, shipping_address, created_at, updated_at) "
        "VALUES (%s, 'pending', %s, %s, 0, %s, 0, %s, %s, %s, %s) RETURNING id",
        (user_id, currency, subtotal, shipping, subtotal + shipping, Json(address), now, now),
    ).fetchone()
    assert inserted is not None  # INSERT … RETURNING returns the row
    order_id = inserted[0]
    items = [
        (order_id, line[2], line[1], line[3], line[4], line[5], line[6], line[7], line[0], line[0] * line[6])
        for line in lines
    ]
    values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(items))
    # Ids come back with their variant (unique in an order), matched like Shopwright matches them.
    item_ids = dict(
        conn.execute(
            "INSERT INTO order_items (order_id, product_id, variant_id, name, variant_name, sku, "
            "unit_price_cents, unit_cost_cents, quantity, line_total_cents) "
            f"VALUES {values} RETURNING variant_id, id",
            [value for item in items for value in item],
        ).fetchall()
    )
    moved: list[tuple[int, int, int]] = []  # (variant id, delta, quantity after): the stock movements
    for variant_id, quantity in sorted((line[1], line[0]) for line in lines):  # ascending: lock order
        sold = conn.execute(
            "UPDATE inventory SET quantity = quantity - %s, reserved = reserved - %s, updated_at = %s "
            "WHERE variant_id = %s AND reserved >= %s RETURNING quantity",
            (quantity, quantity, datetime.now(UTC), variant_id, quantity),
        ).fetchone()
        if sold is None:
            raise Refused(409, "Conflict", f"Not enough stock of variant {variant_id}")
        moved.append((variant_id, -quantity, sold[0]))
    variants, deltas, afters = (list(column) for column in zip(*moved, strict=True))
    conn.execute(
        "INSERT INTO stock_movements (variant_id, delta, quantity_after, reason, actor_id, order_id, "
        "created_at) SELECT m.v, m.d, m.a, 'sale', %s, %s, %s "
        "FROM unnest(%s::int[], %s::int[], %s::int[]) AS m(v, d, a)",
        (user_id, order_id, datetime.now(UTC), variants, deltas, afters),
    )
    conn.execute(
        "UPDATE carts SET status = 'converted', updated_at = %s WHERE id = %s AND status = 'active'",
        (datetime.now(UTC), cart[0]),
    )
    published = datetime.now(UTC)
    conn.execute(
        "INSERT INTO events (name, payload, created_at, attempts, next_attempt_at, user_id) "
        "VALUES ('order.created', %s, %s, 0, %s, %s)",
        (Json({"order_id": order_id, "total_cents": subtotal + shipping}), published, published, user_id),
    )
    return {
        "id": order_id,
        "user_id": user_id,
        "status": "pending",
        "items": [
            {
                "id": item_ids[item[2]],
                "product_id": item[1],
                "variant_id": item[2],
                "name": item[3],
                "variant_name": item[4],
                "sku": item[5],
                "unit_price_cents": item[6],
                "quantity": item[8],
                "line_total_cents": item[9],
            }
            for item in items
        ],
        "subtotal_cents": subtotal,
        "discount_cents": 0,
        "shipping_cents": shipping,
        "tax_cents": 0,
        "total_cents": subtotal + shipping,
        "currency": currency,
        "voucher_code": None,
        "shipping_address": address,
        "created_at": _iso_utc(now),
        "updated_at": _iso_utc(now),
        **dict.fromkeys(("paid_at", "shipped_at", "delivered_at", "cancelled_at", "refunded_at")),
        "payments": [],
    }


# --- the cart -----------------------------------------------------------------------------------
# shopwright.config.Settings' cart rules (the bench sets none of them).
CART_TTL = f"{int(os.environ.get('CART_TTL_MINUTES', '15'))} minutes"
CART_MAX_HOLD = f"{int(os.environ.get('CART_MAX_HOLD_MINUTES', '120'))} minutes"
CART_MAX_LINES = int(os.environ.get("CART_MAX_LINES", "100"))
MAX_LINE_QUANTITY = 100  # shopwright.cart.schemas
NO_LIVE_CART = "The baseline serves live carts only (the bench's carts never lapse)"
# A cart's lines (and saved items) at current prices; `available` is the "can be bought" condition.
LINE_COLUMNS = (
    "ci.id, ci.quantity, ci.saved_for_later, v.id, v.name, v.sku, v.price_cents, v.currency, "
    "v.is_active AND p.is_active AND p.deleted_at IS NULL, p.id, p.name"
)
LINES = "cart_items ci JOIN variants v ON v.id = ci.variant_id JOIN products p ON p.id = v.product_id"
CART_READ = (
    f"SELECT c.id, c.expires_at, {LINE_COLUMNS} FROM carts c LEFT JOIN ({LINES}) ON ci.cart_id = c.id "
    "WHERE c.user_id = %s AND c.status = 'active' ORDER BY ci.id"
)
CART_LINES = f"SELECT {LINE_COLUMNS} FROM {LINES} WHERE ci.cart_id = %s ORDER BY ci.id"
# A change extends the cart's expiry by the TTL, never past held_since + the maximum hold; the first
# reservation starts the hold, and a cart left without lines ends it (shopwright.cart.service._touched).
HOLD_CART = (
    "UPDATE carts SET held_since = coalesce(held_since, now()), updated_at = now(), "
    f"expires_at = least(now() + interval '{CART_TTL}', "
    f"coalesce(held_since, now()) + interval '{CART_MAX_HOLD}') "
    "WHERE user_id = %s AND status = 'active' AND expires_at > now() RETURNING id, expires_at"
)
_OTHER_LINES = (
    "EXISTS (SELECT FROM cart_items WHERE cart_id = carts.id AND NOT saved_for_later AND id <> %(item)s)"
)
TOUCH_CART_WITHOUT_LINE = (
    f"UPDATE carts SET held_since = CASE WHEN {_OTHER_LINES} THEN held_since END, updated_at = now(), "
    f"expires_at = CASE WHEN {_OTHER_LINES} AND held_since IS NOT NULL "
    f"THEN least(now() + interval '{CART_TTL}', held_since + interval '{CART_MAX_HOLD}') "
    f"ELSE now() + interval '{CART_TTL}' END "
    "WHERE user_id = %(user)s AND status = 'active' AND expires_at > now() RETURNING id, expires_at"
)
RESERVE = (
    "UPDATE inventory SET reserved = reserved + %(units)s, updated_at = now() "
    "FROM variants v JOIN products p ON p.id = v.product_id "
    "WHERE inventory.variant_id = %(variant)s AND v.id = %(variant)s "
    "AND v.is_active AND p.is_active AND p.deleted_at IS NULL "
    "AND inventory.quantity - inventory.reserved >= %(units)s RETURNING v.id"
)
UPSERT_LINE = (
    "INSERT INTO cart_items (cart_id, variant_id, quantity) VALUES (%s, %s, %s) "
    "ON CONFLICT (cart_id, variant_id, saved_for_later) "
    "DO UPDATE SET quantity = cart_items.quantity + excluded.quantity"
)
REMOVE_LINE = (
    "WITH line AS (DELETE FROM cart_items WHERE id = %s AND cart_id = %s AND NOT saved_for_later "
    "RETURNING variant_id, quantity) "
    "UPDATE inventory SET reserved = reserved - line.quantity, updated_at = now() FROM line "
    "WHERE inventory.variant_id = line.variant_id RETURNING inventory.variant_id"
)


def _cart_out(cart_id: int, expires_at: datetime, rows: Iterable[tuple[Any, ...]]) -> dict[str, Any]:
    """Render CartOut from the cart's line rows (LINE_COLUMNS, by line id)."""
    items: list[dict[str, Any]] = []
    saved: list[dict[str, Any]] = []
    for (
        line_id,
        quantity,
        is_saved,
        variant_id,
        variant_name,
        sku,
        price,
        currency,
        available,
        pid,
        name,
    ) in rows:
        line = {
            "id": line_id,
            "product_id": pid,
            "variant_id": variant_id,
            "name": name,
            "variant_name": variant_name,
            "sku": sku,
            "quantity": quantity,
            "unit_price_cents": price,
            "line_total_cents": price * quantity,
            "currency": currency,
            "available": available,
        }
        (saved if is_saved else items).append(line)
    buyable = [line for line in items if line["available"]]
    return {
        "id": cart_id,
        "items": items,
        "saved_items": saved,
        "subtotal_cents": sum(line["line_total_cents"] for line in buyable),
        "currency": items[0]["currency"] if items else "USD",
        "item_count": sum(line["quantity"] for line in buyable),
        "expires_at": _iso_utc(expires_at),
    }


def cart(environ: dict[str, Any]) -> Answer:
    """GET /api/cart: the customer's live cart and its lines in one statement, no lock."""
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    rows = _connection().execute(CART_READ, (int(claims["sub"]),)).fetchall()
    if not rows or rows[0][1] <= datetime.now(UTC):  # none yet, or lapsed: Shopwright opens one
        return _problem(409, "Conflict", NO_LIVE_CART)
    return 200, _cart_out(rows[0][0], rows[0][1], (row[2:] for row in rows if row[2] is not None))


def _lines(conn: psycopg.Connection[tuple[Any, ...]], cart_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(CART_LINES, (cart_id,)).fetchall()


def _json_body(environ: dict[str, Any]) -> Any:
    size = int(environ.get("CONTENT_LENGTH") or 0)
    try:
        return json.loads(environ["wsgi.input"].read(size))
    except ValueError:
        return None


def add_cart_item(environ: dict[str, Any]) -> Answer:
    """POST /api/cart/items {"variant_id", "quantity"}: reserve the units and add (or grow) the line.

    One transaction, the cart row locked first (Shopwright's lock order): extend the cart's hold, reserve
    the stock of a variant that can be bought, upsert the line, read the lines; a broken rule (line size,
    number of lines, one currency) rolls it all back.
    """
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    body = _json_body(environ)
    if not (isinstance(body, dict) and set(body) <= {"variant_id", "quantity"} and "variant_id" in body):
        return _problem(422, "Unprocessable Content", "the baseline takes variant_id and quantity")
    variant_id, quantity = body["variant_id"], body.get("quantity", 1)
    if not (type(variant_id) is int and type(quantity) is int and 1 <= quantity <= MAX_LINE_QUANTITY):
        return _problem(422, "Unprocessable Content", "variant_id and quantity must be integers")
    conn = _connection()
    try:
        with conn.transaction():
            cart = conn.execute(HOLD_CART, (int(claims["sub"]),)).fetchone()
            if cart is None:
                raise Refused(409, "Conflict", NO_LIVE_CART)
            reserved = conn.execute(RESERVE, {"variant": variant_id, "units": quantity}).fetchone()
            if reserved is None:
                raise Refused(409, "Conflict", f"Variant {variant_id} is not available in that quantity")
            conn.execute(UPSERT_LINE, (cart[0], variant_id, quantity))
            lines = _lines(conn, cart[0])
            live = [line for line in lines if not line[2]]
            if any(line[1] > MAX_LINE_QUANTITY for line in live):
                raise Refused(
                    422, "Unprocessable Content", f"A cart line holds at most {MAX_LINE_QUANTITY} units"
                )
            if len(live) > CART_MAX_LINES:
                raise Refused(409, "Conflict", f"A cart holds at most {CART_MAX_LINES} different items")
            if len({line[7] for line in live}) > 1:
                raise Refused(409, "Conflict", "A cart holds one currency")
    except Refused as refused:
        return refused.answer
    return 201, _cart_out(cart[0], cart[1], lines)


def remove_cart_item(environ: dict[str, Any], item_id: int) -> Answer:
    """DELETE /api/cart/items/<id>: remove a line and release its units.

    One transaction, the cart row locked first: extend the cart (a cart left without lines ends its
    hold), delete the line and release its reservation in one statement, read the lines.
    """
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    conn = _connection()
    try:
        with conn.transaction():
            user = int(claims["sub"])
            cart = conn.execute(TOUCH_CART_WITHOUT_LINE, {"item": item_id, "user": user}).fetchone()
            if cart is None:
                raise Refused(409, "Conflict", NO_LIVE_CART)
            released = conn.execute(REMOVE_LINE, (item_id, cart[0])).fetchone()
            if released is None:
                raise Refused(404, "Not Found", f"No cart item {item_id} in your cart")
            lines = _lines(conn, cart[0])
    except Refused as refused:
        return refused.answer
    return 200, _cart_out(cart[0], cart[1], lines)


# --- orders ---------------------------------------------------------------------------------------
ORDER_COLUMNS = (
    "id, user_id, status, subtotal_cents, discount_cents, shipping_cents, tax_cents, total_cents, currency, "
    "voucher_code, shipping_address, created_at, updated_at, paid_at, shipped_at, delivered_at, "
    "cancelled_at, refunded_at"
)
ADDRESS_FIELDS = ("full_name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
STAMPS = ("paid_at", "shipped_at", "delivered_at", "cancelled_at", "refunded_at")


def _address_out(address: Any) -> Any:
    """Text as given; a structured address in ShippingAddressOut's field order, without absent fields."""
    if isinstance(address, str):
        return address
    return {key: address[key] for key in ADDRESS_FIELDS if address.get(key) is not None}


def orders(environ: dict[str, Any]) -> Answer:
    """GET /api/orders: the customer's first page of orders, newest first: orders, their lines, payments."""
    claims = _access_claims(environ)
    if claims is None:
        return _problem(401, "Unauthorized", "Missing, invalid, expired or revoked token")
    limit = 20
    conn = _connection()
    rows = conn.execute(
        f"SELECT {ORDER_COLUMNS} FROM orders WHERE user_id = %s ORDER BY id DESC LIMIT %s",
        (int(claims["sub"]), limit + 1),
    ).fetchall()
    page = rows[:limit]
    ids = [row[0] for row in page]
    items: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in ids}
    for order_id, *item in conn.execute(
        "SELECT order_id, id, product_id, variant_id, name, variant_name, sku, unit_price_cents, quantity, "
        "line_total_cents FROM order_items WHERE order_id = ANY(%s) ORDER BY id",
        (ids,),
    ):
        keys = (
            "id",
            "product_id",
            "variant_id",
            "name",
            "variant_name",
            "sku",
            "unit_price_cents",
            "quantity",
        )
        items[order_id].append({**dict(zip(keys, item, strict=False)), "line_total_cents": item[8]})
    payments: dict[int, list[dict[str, Any]]] = {order_id: [] for order_id in ids}
    for order_id, payment_id, status, amount, refunded, currency, provider, created_at in conn.execute(
        "SELECT order_id, id, status, amount_cents, refunded_cents, currency, provider, created_at "
        "FROM payments WHERE order_id = ANY(%s) ORDER BY id",
        (ids,),
    ):
        payments[order_id].append(
            {
                "id": payment_id,
                "status": status,
                "amount_cents": amount,
                "refunded_cents": refunded,
                "currency": currency,
                "provider": provider,
                "created_at": _iso_utc(created_at),
            }
        )
    out = [
        {
            "id": row[0],
            "user_id": row[1],
            "status": row[2],
            "items": items[row[0]],
            "subtotal_cents": row[3],
            "discount_cents": row[4],
            "shipping_cents": row[5],
            "tax_cents": row[6],
            "total_cents": row[7],
            "currency": row[8],
            "voucher_code": row[9],
            "shipping_address": _address_out(row[10]),
            "created_at": _iso_utc(row[11]),
            "updated_at": _iso_utc(row[12]),
            **{
                stamp: _iso_utc(value) if value else None
                for stamp, value in zip(STAMPS, row[13:], strict=True)
            },
            "payments": payments[row[0]],
        }
        for row in page
    ]
    next_cursor = None
    if len(rows) > limit:
        raw = json.dumps({"id": page[-1][0]}, separators=(",", ":"), sort_keys=True).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return 200, {"items": out, "next_cursor": next_cursor}


Handler = Callable[..., Answer]  # (environ) or (environ, the id in the path)
ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/api/auth/me"): me,
    ("GET", "/api/products"): products,
    ("POST", "/api/orders"): place_order,
    ("GET", "/api/orders"): orders,
    ("GET", "/api/cart"): cart,
    ("POST", "/api/cart/items"): add_cart_item,
}
# Paths with an id: (method, prefix) -> handler(environ, id).
ID_ROUTES: dict[tuple[str, str], Handler] = {
    ("GET", "/api/products/"): product,
    ("DELETE", "/api/cart/items/"): remove_cart_item,
}
REASONS = {
    200: "OK",
    201: "CREATED",
    401: "UNAUTHORIZED",
    404: "NOT FOUND",
    409: "CONFLICT",
    422: "UNPROCESSABLE CONTENT",
}


def _dispatch(method: str, path: str, environ: dict[str, Any]) -> Answer:
    handler = ROUTES.get((method, path))
    if handler is not None:
        return handler(environ)
    head, _, tail = path.rpartition("/")
    handler = ID_ROUTES.get((method, head + "/"))
    if handler is not None and tail.isdigit():
        return handler(environ, int(tail))
    return _problem(404, "Not Found", "No such route")


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Dispatch on method and path; answer JSON (problem+json for errors)."""
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    status, body = _dispatch(method, path, environ)
    payload = json.dumps(body, separators=(",", ":")).encode() + b"\n"  # Flask's bytes: compact, a newline
    headers = [
        ("Content-Type", "application/json" if status < 400 else "application/problem+json"),
        ("Content-Length", str(len(payload))),
    ]
    if path == "/api/products" and status == 200:  # Shopwright's product lists carry a strong ETag
        headers.append(("ETag", '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'))
    start_response(f"{status} {REASONS.get(status, 'ERROR')}", headers)
    return [payload]
