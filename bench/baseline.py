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
    """Decode and check the Bearer access token as flask-jwt-extended + RedisRevocations do."""
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
    "id, name, slug, description, category_id, min_price_cents, currency, rating_avg, rating_count, "
    "created_at, updated_at"
)


def products(environ: dict[str, Any]) -> Answer:
    """GET /api/products?limit=20: the first page, newest first, with the same four statements.

    The same SQL as Shopwright sends on PostgreSQL: the page's active variants, its categories
    (catalog/listing.py) and their stock (inventory.service.availability), each by `= ANY(array)`.
    """
    limit = 20
    conn = _connection()
    rows = conn.execute(
        f"SELECT {PRODUCT_COLUMNS} FROM products WHERE deleted_at IS NULL AND is_active "
        "ORDER BY id DESC LIMIT %s",
        (limit + 1,),
    ).fetchall()
    page = rows[:limit]
    ids = [row[0] for row in page]
    variants: dict[int, list[tuple[Any, ...]]] = {}
    for v in conn.execute(
        "SELECT id, product_id, sku, name, price_cents, currency, attributes, is_default "
        "FROM variants WHERE product_id = ANY(%s) AND is_active ORDER BY id",
        (ids,),
    ):
        variants.setdefault(v[1], []).append(v)
    categories = {
        c[0]: {"id": c[0], "name": c[1], "slug": c[2]}
        for c in conn.execute(
            "SELECT id, name, slug FROM categories WHERE id = ANY(%s)", (list({row[4] for row in page}),)
        )
    }
    variant_ids = [v[0] for vs in variants.values() for v in vs]
    available: dict[int, int] = {}
    if variant_ids:  # like availability(): no statement for no variants
        stock = "SELECT variant_id, quantity - reserved FROM inventory WHERE variant_id = ANY(%s)"
        available.update(conn.execute(stock, (variant_ids,)).fetchall())
    items = []
    for row in page:
        out = [
            {
                "id": v[0],
                "sku": v[2],
                "name": v[3],
                "price_cents": v[4],
                "currency": v[5],
                "attributes": v[6] if isinstance(v[6], dict) else json.loads(v[6]),
                "is_default": v[7],
                "available": available.get(v[0], 0),
            }
            for v in variants.get(row[0], [])
        ]
        items.append(
            {
                "id": row[0],
                "name": row[1],
                "slug": row[2],
                "description": row[3],
                "category": categories[row[4]],
                "price_cents": row[5],
                "currency": row[6],
                "in_stock": any(v["available"] > 0 for v in out),
                "rating_avg": float(row[7]),
                "rating_count": row[8],
                "variants": out,
                "created_at": _iso_utc(row[9]),
                "updated_at": _iso_utc(row[10]),
            }
        )
    next_cursor = None
    if len(rows) > limit:
        raw = json.dumps({"id": page[-1][0]}, separators=(",", ":"), sort_keys=True).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return 200, {"items": items, "next_cursor": next_cursor}


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
    order_id = conn.execute(
        "INSERT INTO orders (user_id, status, currency, subtotal_cents, discount_cents, shipping_cents, "
        "tax_cents, total_cents, shipping_address, created_at, updated_at) "
        "VALUES (%s, 'pending', %s, %s, 0, %s, 0, %s, %s, %s, %s) RETURNING id",
        (user_id, currency, subtotal, shipping, subtotal + shipping, Json(address), now, now),
    ).fetchone()[0]
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
    for variant_id, quantity in sorted((line[1], line[0]) for line in lines):  # ascending: lock order
        sold = conn.execute(
            "UPDATE inventory SET quantity = quantity - %s, reserved = reserved - %s, updated_at = %s "
            "WHERE variant_id = %s AND reserved >= %s RETURNING variant_id",
            (quantity, quantity, datetime.now(UTC), variant_id, quantity),
        ).fetchone()
        if sold is None:
            raise Refused(409, "Conflict", f"Not enough stock of variant {variant_id}")
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


ROUTES: dict[tuple[str, str], Callable[[dict[str, Any]], Answer]] = {
    ("GET", "/api/auth/me"): me,
    ("GET", "/api/products"): products,
    ("POST", "/api/orders"): place_order,
}
REASONS = {
    200: "OK",
    201: "CREATED",
    401: "UNAUTHORIZED",
    404: "NOT FOUND",
    409: "CONFLICT",
    422: "UNPROCESSABLE CONTENT",
}


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """Dispatch on method and path; answer JSON (problem+json for errors)."""
    handler = ROUTES.get((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
    status, body = handler(environ) if handler else _problem(404, "Not Found", "No such route")
    payload = json.dumps(body, separators=(",", ":")).encode() + b"\n"  # Flask's bytes: compact, a newline
    content_type = "application/json" if status < 400 else "application/problem+json"
    # Shopwright's product lists carry a strong ETag of the body: the baseline pays for one too.
    etag = hashlib.sha256(payload).hexdigest()[:32]
    start_response(
        f"{status} {REASONS.get(status, 'ERROR')}",
        [("Content-Type", content_type), ("Content-Length", str(len(payload))), ("ETag", f'"{etag}"')],
    )
    return [payload]
