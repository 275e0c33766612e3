"""Fifty customers racing for five units through a real gunicorn server with 4 worker processes."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

from sqlalchemy import Engine

from shopwright.accounts.seed import ensure_admin
from shopwright.db import make_sessionmaker
from shopwright.inventory.models import StockLevel
from tests.support.servers import LiveServer

PASSWORD = "Race-pass-1"
RACERS = 50


def test_fifty_customers_over_http_reserve_exactly_the_five_units_in_stock(
    live_server_4_workers: LiveServer, committed_db: Engine
) -> None:
    server = live_server_4_workers
    sessions = make_sessionmaker(committed_db)
    with sessions() as session:
        ensure_admin(session, "ops@example.com", PASSWORD)
    admin = server.login("ops@example.com", PASSWORD)
    status, category = server.request("POST", "/api/categories", {"name": "Consoles"}, token=admin)
    assert status == 201, category
    body = {
        "name": "Console",
        "category_id": category["id"],
        "sku": "CON-1",
        "price_cents": 49_900,
        "stock_quantity": 5,
    }
    status, product = server.request("POST", "/api/products", body, token=admin)
    assert status == 201, product

    def register(i: int) -> str:
        email = f"racer{i}@example.com"
        assert server.request("POST", "/api/auth/register", {"email": email, "password": PASSWORD})[0] == 201
        return server.login(email, PASSWORD)

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(register, range(RACERS)))

    barrier = Barrier(RACERS)

    def add(token: str) -> tuple[int, str | None]:
        barrier.wait()
        status, answer = server.request("POST", "/api/cart/items", {"product_id": product["id"]}, token=token)
        return status, answer.get("code") if status >= 400 else None

    with ThreadPoolExecutor(RACERS) as pool:
        results = Counter(pool.map(add, tokens))

    assert results == {(201, None): 5, (409, "out_of_stock"): 45}
    with sessions() as session:
        level = session.get(StockLevel, product["variants"][0]["id"])
        assert level is not None
        assert (level.quantity, level.reserved) == (5, 5)
