"""The data `make contract` seeds through the API, so that the operations' ids find something."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from shopwright.accounts import passwords
from shopwright.accounts.seed import ensure_admin
from shopwright.db import make_engine, make_sessionmaker

PASSWORD = "Contract-Passw0rd"


@dataclass
class Seeded:
    """Ids of the seeded data, by the parameter names the document uses."""

    ids: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))
    accounts: dict[str, str] = field(default_factory=dict)  # role → email of its seeded account


def call(
    base_url: str, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
) -> tuple[int, Any]:
    """Send one JSON request; return (status, parsed body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    return status, json.loads(raw) if raw else None


def _ok(base_url: str, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    status, answer = call(base_url, method, path, body, token)
    if status >= 300:
        raise RuntimeError(f"seeding: {method} {path} answered {status}: {answer}")
    return answer


def seed(base_url: str, database_url: str) -> Seeded:
    """Create the accounts of each role and the data their ids point at."""
    seeded = Seeded()
    run = uuid.uuid4().hex[:8]
    passwords.configure(time_cost=1, memory_kib=1024)
    engine = make_engine(database_url, pool_size=1)
    with make_sessionmaker(engine)() as session:
        ensure_admin(session, f"admin-{run}@example.com", PASSWORD)
    engine.dispose()
    _ok(
        base_url, "POST", "/api/auth/register", {"email": f"customer-{run}@example.com", "password": PASSWORD}
    )
    seeded.accounts = {"admin": f"admin-{run}@example.com", "customer": f"customer-{run}@example.com"}
    boss, buyer = (
        _ok(base_url, "POST", "/api/auth/login", {"email": seeded.accounts[role], "password": PASSWORD})[
            "access_token"
        ]
        for role in ("admin", "customer")
    )
    _seed_catalog(base_url, boss, buyer, seeded)
    _seed_customer(base_url, buyer, seeded)
    victim = _ok(
        base_url, "POST", "/api/auth/register", {"email": f"victim-{run}@example.com", "password": PASSWORD}
    )
    seeded.ids["user_id"].append(victim["id"])
    seeded.ids["provider"].append("test")
    return seeded


def _seed_catalog(base_url: str, boss: str, buyer: str, seeded: Seeded) -> None:
    ids = seeded.ids
    root = _ok(base_url, "POST", "/api/categories", {"name": "Outdoor"}, boss)
    child = _ok(base_url, "POST", "/api/categories", {"name": "Tents", "parent_id": root["id"]}, boss)
    empty = _ok(base_url, "POST", "/api/categories", {"name": "Empty"}, boss)
    ids["category_id"] += [root["id"], child["id"], empty["id"]]
    products = [
        {"name": "Dome tent", "category_id": child["id"], "sku": "C-TENT", "price_cents": 15_000},
        {"name": "Stove", "category_id": root["id"], "sku": "C-STOVE", "price_cents": 4_999},
        {"name": "Gift card", "sku": "C-GIFT", "price_cents": 2_500},  # no category
        {
            "name": "Jacket",
            "category_id": root["id"],
            "variants": [
                {
                    "sku": "C-JACKET-S",
                    "price_cents": 9_900,
                    "attributes": {"size": "S"},
                    "stock_quantity": 50,
                },
                {
                    "sku": "C-JACKET-M",
                    "price_cents": 9_900,
                    "attributes": {"size": "M"},
                    "stock_quantity": 50,
                },
            ],
        },
    ]
    for body in products:
        body.setdefault("stock_quantity", 1000)
        product = _ok(base_url, "POST", "/api/products", body, boss)
        ids["product_id"].append(product["id"])
        ids["variant_id"] += [variant["id"] for variant in product["variants"]]
    _ok(
        base_url,
        "POST",
        f"/api/products/{ids['product_id'][0]}/reviews",
        {"rating": 5, "title": "Dry"},
        buyer,
    )
    vouchers = [
        {"code": "TENOFF", "kind": "percent", "percent_off": 10},
        {"code": "FIVER", "kind": "fixed", "amount_off_cents": 500, "currency": "USD"},
    ]
    for body in vouchers:
        ids["voucher_id"].append(_ok(base_url, "POST", "/api/admin/vouchers", body, boss)["id"])


def _seed_customer(base_url: str, buyer: str, seeded: Seeded) -> None:
    ids = seeded.ids
    delivery = {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    for name in ("Home", "Work"):
        address = {"label": name, "full_name": "Buyer", **delivery}
        ids["address_id"].append(_ok(base_url, "POST", "/api/auth/me/addresses", address, buyer)["id"])
    for product_id in ids["product_id"][:2]:  # a paid order, then a pending one
        _ok(base_url, "POST", "/api/cart/items", {"product_id": product_id, "quantity": 3}, buyer)
        order = _ok(base_url, "POST", "/api/orders", {"delivery_address": delivery}, buyer)
        ids["order_id"].append(order["id"])
        ids["order_item_id"] += [item["id"] for item in order["items"]]
    body = {"order_id": ids["order_id"][0], "payment_method": "tok_visa"}
    ids["payment_id"].append(_ok(base_url, "POST", "/api/payments/process", body, buyer)["id"])
    for variant_id in ids["variant_id"]:  # a cart line of each variant, the last one saved for later
        cart = _ok(base_url, "POST", "/api/cart/items", {"variant_id": variant_id, "quantity": 2}, buyer)
    cart = _ok(base_url, "POST", f"/api/cart/items/{cart['items'][-1]['id']}/save-for-later", None, buyer)
    ids["item_id"] += [line["id"] for line in cart["items"] + cart["saved_items"]]
