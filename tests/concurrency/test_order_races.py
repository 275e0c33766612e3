"""Races on checkout, idempotency, payments, vouchers and cancellation, with real commits on PostgreSQL.

Each test names the protection it exercises and what breaks without it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order, OrderItem
from shopwright.outbox import Event
from shopwright.payments.gateway import ChargeResult, TestGateway, sign_webhook
from shopwright.payments.models import Payment
from shopwright.promotions.models import Voucher
from tests.factories import customer
from tests.factories.catalog import Shop, stock_of
from tests.factories.orders import ORDERS, Buyer
from tests.support.races import race

WEBHOOK_SECRET = "whsec-test-0123456789abcdef0123456789"


@pytest.fixture
def app(make_app: Any) -> Flask:
    return make_app(PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET)  # type: ignore[no-any-return]


def _buyers(app: Flask, n: int) -> list[Buyer]:
    client = app.test_client()
    return [Buyer(app.test_client(), customer(client)) for _ in range(n)]


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def _count(sessions: sessionmaker[Session], model: Any, *where: Any) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_hundred_customers_checking_out_at_once_never_exceed_stock(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: reserved units are sold by a conditional UPDATE (reserved >= q) per variant in id order,
    # under each customer's own cart lock. Without it, concurrent checkouts could sell units twice or
    # deadlock on the stock rows.
    product = shop.product(shop.category()["id"], stock_quantity=100)
    buyers = _buyers(app, 100)
    for buyer in buyers:
        buyer.added(1, product_id=product["id"])

    statuses = race(100, lambda i: buyers[i].checkout().status_code)

    assert Counter(statuses) == {201: 100}
    assert stock_of(sessions, _variant(product)) == (0, 0)
    with sessions() as session:
        assert session.scalar(select(func.sum(OrderItem.quantity))) == 100


def test_twenty_parallel_checkouts_with_one_key_make_one_order(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: the idempotency key row is inserted first in checkout's transaction; its unique
    # (user_id, key) makes the duplicates wait for the first to commit and then replay its answer.
    # Without it the first checkout wins and the 19 others find an empty cart (422 cart_empty).
    product = shop.product(shop.category()["id"], stock_quantity=10)
    (buyer,) = _buyers(app, 1)
    buyer.added(3, product_id=product["id"])

    def checkout(_: int) -> tuple[int, str]:
        response = Buyer(app.test_client(), buyer.account).checkout(key="one-order")
        return response.status_code, json.dumps(response.json, sort_keys=True)

    results = race(20, checkout)

    assert {status for status, _ in results} == {201}
    assert len({body for _, body in results}) == 1, "every duplicate gets the first response"
    assert _count(sessions, Order) == 1
    assert stock_of(sessions, _variant(product)) == (7, 0)


class SlowTestGateway(TestGateway):
    """The test provider, slowed down: a charge answers only once the provider's webhook was sent."""

    def __init__(self, secret: str) -> None:
        super().__init__(secret)
        self.charging = threading.Event()
        self.webhooks_sent = threading.Event()

    def charge(self, **kwargs: Any) -> ChargeResult:
        result = super().charge(**kwargs)
        self.charging.set()
        self.webhooks_sent.wait(timeout=30)
        return result


def test_the_webhook_racing_the_clients_own_call_pays_the_order_once(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: settling is a conditional UPDATE (processing → succeeded) under the order's row lock;
    # only the settler whose UPDATE matched marks the order paid and publishes order.paid. Without the
    # condition the client's call and each webhook delivery would all mark it paid.
    gateway = SlowTestGateway(WEBHOOK_SECRET)
    app.extensions["shopwright.gateway"] = gateway
    product = shop.product(shop.category()["id"], stock_quantity=10)
    (buyer,) = _buyers(app, 1)
    order = buyer.buy(product["id"], 2)
    paid: list[Any] = []

    def pay() -> None:
        paid.append(buyer.pay(order["id"]))

    payer = threading.Thread(target=pay)
    payer.start()
    assert gateway.charging.wait(timeout=30)
    with sessions() as session:
        payment = session.scalars(select(Payment).where(Payment.order_id == order["id"])).one()

    def webhook(i: int) -> int:
        event = {
            "id": f"evt_{i % 3}",  # three distinct events, each delivered twice or more
            "type": "payment.succeeded",
            "data": {
                "payment_id": payment.id,
                "provider_ref": "test_ch_webhook",
                "amount_cents": order["total_cents"],
                "currency": order["currency"],
            },
        }
        body = json.dumps(event).encode()
        headers = {
            "Shopwright-Signature": sign_webhook(WEBHOOK_SECRET, body),
            "Content-Type": "application/json",
        }
        return app.test_client().post("/api/payments/webhooks/test", data=body, headers=headers).status_code

    statuses = race(8, webhook)
    gateway.webhooks_sent.set()
    payer.join(timeout=30)

    assert statuses == [200] * 8
    assert paid[0].status_code == 200
    assert paid[0].json["status"] == "succeeded"
    assert _count(sessions, Payment, Payment.order_id == order["id"]) == 1
    assert _count(sessions, Event, Event.name == "order.paid") == 1
    assert buyer.order(order["id"])["status"] == "paid"


def test_a_voucher_limited_to_ten_uses_raced_by_fifty_checkouts_is_used_ten_times(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: the use is taken by one conditional UPDATE (used_count < usage_limit). Without it the
    # racers all read used_count below the limit and each takes a use.
    product = shop.product(shop.category()["id"], price_cents=1_000, stock_quantity=100)
    voucher = {"code": "TEN-OFF", "kind": "percent", "percent_off": 10, "usage_limit": 10}
    assert shop.client.post("/api/admin/vouchers", json=voucher, headers=shop.headers).status_code == 201
    buyers = _buyers(app, 50)
    for buyer in buyers:
        buyer.added(1, product_id=product["id"])

    def checkout(i: int) -> tuple[int, str | None]:
        response = buyers[i].checkout(voucher_code="ten-off")
        return response.status_code, (response.json or {}).get(
            "code"
        ) if response.status_code >= 400 else None

    results = race(50, checkout)

    assert Counter(results) == {(201, None): 10, (409, "voucher_exhausted"): 40}
    with sessions() as session:
        assert session.scalar(select(Voucher.used_count)) == 10
        assert (
            session.scalar(select(func.count()).select_from(Order).where(Order.discount_cents == 100)) == 10
        )
    assert stock_of(sessions, _variant(product)) == (90, 40), "the 40 refused carts keep their reservations"


def test_cancel_racing_an_admin_ship_lets_one_win_and_keeps_stock_consistent(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: both lock the order row and check the status machine on what they find. Without the
    # lock both could read `paid`: the order ends up shipped and its stock back on the shelf (sold twice).
    product = shop.product(shop.category()["id"], stock_quantity=100)
    buyers = _buyers(app, 12)
    orders = []
    for buyer in buyers:
        order = buyer.buy(product["id"], 2)
        assert buyer.pay(order["id"]).status_code == 200
        orders.append(order["id"])
    admin_client: FlaskClient = app.test_client()

    def act(i: int) -> int:
        buyer, order_id = buyers[i // 2], orders[i // 2]
        if i % 2:
            url = f"/api/admin/orders/{order_id}/status"
            return admin_client.put(url, json={"status": "shipped"}, headers=shop.headers).status_code
        return buyer.client.post(f"{ORDERS}/{order_id}/cancel", headers=buyer.account.headers).status_code

    results = race(24, act)

    shipped = 0
    for n in range(12):
        cancel, ship = results[2 * n], results[2 * n + 1]
        assert sorted([cancel, ship]) == [200, 409], f"order {orders[n]}: cancel {cancel}, ship {ship}"
        shipped += ship == 200
    with sessions() as session:
        statuses = Counter(session.scalars(select(Order.status)))
    assert statuses == {"shipped": shipped, "cancelled": 12 - shipped}
    assert stock_of(sessions, _variant(product)) == (100 - 2 * shipped, 0)


def test_two_tabs_topping_up_an_old_price_line_at_once_share_one_new_line(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    # Protection: an edit locks the order row and reloads its lines under that lock (lock_order), so the
    # second edit sees the current-price line the first one created and adds to it. Without the lock both
    # would insert a line for (order, variant, price): one fails on the unique key (a 500), or, were there
    # no key, the order would hold two lines at one price and the units of one edit twice.
    product = shop.product(shop.category()["id"], price_cents=1_000, stock_quantity=50)
    (buyer,) = _buyers(app, 1)
    order = buyer.buy(product["id"], 1)
    line = order["items"][0]["id"]
    shop.update(product["id"], price_cents=1_500)
    tabs = [Buyer(app.test_client(), buyer.account) for _ in range(2)]

    def top_up(i: int) -> int:
        body = {"items": [{"item_id": line, "quantity": 6}]}
        return (
            tabs[i]
            .client.patch(f"{ORDERS}/{order['id']}", json=body, headers=buyer.account.headers)
            .status_code
        )

    assert Counter(race(2, top_up)) == {200: 2}

    final = buyer.order(order["id"])
    assert [(i["unit_price_cents"], i["quantity"]) for i in final["items"]] == [(1_000, 1), (1_500, 10)]
    assert final["subtotal_cents"] == 1_000 + 15_000
    assert stock_of(sessions, _variant(product)) == (39, 0)
