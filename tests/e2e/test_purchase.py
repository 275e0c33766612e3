"""A whole purchase through a real gunicorn server: browse, cart, checkout, pay, ship, deliver, history."""

from __future__ import annotations

from sqlalchemy import Engine

from shopwright.accounts.seed import ensure_admin
from shopwright.db import make_sessionmaker
from tests.support.servers import LiveServer

PASSWORD = "Buyer-pass-1"


def test_register_browse_buy_pay_ship_deliver_and_see_it_in_history(
    live_server: LiveServer, committed_db: Engine
) -> None:
    server = live_server
    with make_sessionmaker(committed_db)() as session:
        ensure_admin(session, "ops@example.com", PASSWORD)
    admin = server.login("ops@example.com", PASSWORD)
    status, category = server.request("POST", "/api/categories", {"name": "Lamps"}, token=admin)
    assert status == 201
    lamp = {
        "name": "Desk Lamp",
        "category_id": category["id"],
        "sku": "LAMP-1",
        "price_cents": 3_500,
        "stock_quantity": 4,
    }
    status, product = server.request("POST", "/api/products", lamp, token=admin)
    assert status == 201

    # register, log in, browse
    status, user = server.request(
        "POST", "/api/auth/register", {"email": "dana@example.com", "password": PASSWORD}
    )
    assert status == 201
    token = server.login("dana@example.com", PASSWORD)
    status, listing = server.request("GET", "/api/products?q=lamp")
    assert status == 200
    assert [item["id"] for item in listing["items"]] == [product["id"]]

    # cart and checkout
    status, cart = server.request(
        "POST", "/api/cart/items", {"product_id": product["id"], "quantity": 2}, token=token
    )
    assert (status, cart["subtotal_cents"]) == (201, 7_000)
    address = {"line1": "5 Elm Road", "city": "Leeds", "postal_code": "LS1 4AP", "country": "GB"}
    status, order = server.request("POST", "/api/orders", {"delivery_address": address}, token=token)
    assert status == 201, order
    assert (order["status"], order["subtotal_cents"], order["shipping_cents"], order["total_cents"]) == (
        "pending",
        7_000,
        500,
        7_500,
    )

    # pay: a declined card first, then a good one
    declined = server.request(
        "POST",
        "/api/payments/process",
        {"order_id": order["id"], "payment_method": "tok_chargeDeclined"},
        token=token,
    )
    assert (declined[0], declined[1]["code"]) == (402, "card_declined")
    status, payment = server.request(
        "POST", "/api/payments/process", {"order_id": order["id"], "payment_method": "tok_visa"}, token=token
    )
    assert (status, payment["status"], payment["amount_cents"]) == (200, "succeeded", 7_500)

    # the shop ships and delivers; the price changes afterwards
    for step in ("shipped", "delivered"):
        status, moved = server.request(
            "PUT", f"/api/admin/orders/{order['id']}/status", {"status": step}, token=admin
        )
        assert (status, moved["status"]) == (200, step)
    status, _ = server.request("PATCH", f"/api/products/{product['id']}", {"price_cents": 9_900}, token=admin)
    assert status == 200

    # history shows the delivered order at the price paid
    status, history = server.request("GET", "/api/orders", token=token)
    assert status == 200
    [seen] = history["items"]
    assert (seen["id"], seen["status"], seen["user_id"]) == (order["id"], "delivered", user["id"])
    assert (seen["items"][0]["unit_price_cents"], seen["total_cents"]) == (3_500, 7_500)
    assert [p["status"] for p in seen["payments"]] == ["failed", "succeeded"]
    status, stock = server.request("GET", f"/api/products/{product['id']}")
    assert stock["variants"][0]["available"] == 2
