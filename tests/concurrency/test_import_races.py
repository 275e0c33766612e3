"""Races of the product import with itself, with carts and with checkout (PostgreSQL, real commits)."""

from __future__ import annotations

import time
from collections import Counter

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Product
from shopwright.inventory.models import StockMovement
from tests.factories import customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.imports import csv_file, upload
from tests.factories.orders import Buyer
from tests.support.races import race


def _sum_of_deltas(sessions: sessionmaker[Session], variant_id: int) -> int:
    with sessions() as session:
        total = session.scalar(
            select(func.sum(StockMovement.delta)).where(StockMovement.variant_id == variant_id)
        )
        return int(total or 0)


def test_two_imports_of_the_same_new_skus_at_once_both_succeed(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: imports queue on one advisory lock, so the second reads the SKUs the first created and
    # updates them. Without it both see the SKUs as new: the loser breaks the unique SKU (409 at best).
    rows = [["sku", "name", "price_cents", "stock_quantity", "category"]]
    rows += [[f"RACE-{i}", f"Racer {i}", str(100 + i), "5", "Races > Fast"] for i in range(200)]
    content = csv_file(rows)

    answers = race(2, lambda _i: upload(Shop(app, app.test_client(), shop.admin), content))

    assert [a.status_code for a in answers] == [200, 200], [a.json for a in answers]
    assert sorted(a.json["created"] for a in answers) == [0, 200]
    assert sorted(a.json["unchanged"] for a in answers) == [0, 200]
    assert sorted(a.json["categories_created"] for a in answers) == [0, 2]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Product)) == 200


def test_an_import_racing_carts_and_checkouts_never_sets_stock_below_reserved(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: the import locks the stock rows it sets (ascending variant id, as checkout and carts
    # lock them) and checks the reserved units under that lock. Without it, a reservation made between
    # its check and its write leaves quantity < reserved: the CHECK refuses the write, a 500.
    product = shop.product(None, sku="HOT-1", stock_quantity=20)
    variant_id = product["variants"][0]["id"]
    buyers = [Buyer(app.test_client(), customer(app.test_client())) for _ in range(4)]
    for buyer in buyers:
        buyer.added(2, product_id=product["id"])  # 8 reserved
    shoppers = [Buyer(app.test_client(), customer(app.test_client())) for _ in range(6)]
    # Thousands of new products too: the import works a while between reading the stock and writing it,
    # and the shoppers come in one after the other during that time.
    rows = [["sku", "stock_quantity", "name", "price_cents"], ["HOT-1", "10", "", ""]]
    content = csv_file(rows + [[f"FILL-{i}", "1", f"Filler {i}", "100"] for i in range(3000)])

    t0 = time.monotonic()

    def act(i: int) -> int:
        r = _act(i)
        print(i, r, round(time.monotonic() - t0, 3))
        return r

    def _act(i: int) -> int:
        if i < 4:
            return int(buyers[i].checkout().status_code)
        if i < 10:
            time.sleep(0.1 * (i - 3))
            return int(shoppers[i - 4].add(1, product_id=product["id"]).status_code)
        return int(upload(Shop(app, app.test_client(), shop.admin), content).status_code)

    statuses = race(11, act)

    assert statuses[:4] == [201] * 4
    assert set(statuses[4:10]) <= {201, 409}
    assert statuses[10] in (200, 422)
    quantity, reserved = stock_of(sessions, variant_id)
    assert reserved == Counter(statuses[4:10])[201]
    assert quantity >= reserved
    assert _sum_of_deltas(sessions, variant_id) == quantity
