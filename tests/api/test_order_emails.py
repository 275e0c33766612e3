"""Order emails: each order event tells the customer, in plain text and HTML, once, after commit."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.notifications.models import SENT, Email
from tests.conftest import Mailbox
from tests.factories import customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

ADDRESS = {
    "full_name": "Ann <b>Buyer</b>",
    "line1": "1 Main St",
    "city": "Springfield",
    "postal_code": "12345",
    "country": "US",
}


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(shop.category("Lamps")["id"], "Desk <Lamp>", price_cents=129_900, stock_quantity=10)


@pytest.fixture
def ann(client: FlaskClient) -> Buyer:
    return Buyer(client, customer(client, full_name="Ann <script>alert(1)</script>"))


def _parts(message: EmailMessage) -> tuple[str, str]:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None
    assert html is not None
    return plain.get_content(), html.get_content()


def _emails(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        return [(e.template, e.status) for e in session.scalars(select(Email).order_by(Email.id))]


def test_a_placed_order_is_confirmed_with_its_lines_totals_and_address(
    ann: Buyer, product: dict[str, Any], mailbox: Mailbox, sessions: sessionmaker[Session]
) -> None:
    # When Ann checks out two lamps
    ann.added(2, product_id=product["id"])
    order = ann.ordered(ADDRESS)

    # Then one confirmation reached her: subject with the order id, text and HTML alternatives
    [message] = mailbox.to(ann.account.email)
    assert message["Subject"] == f"Order #{order['id']} received"
    assert message.get_content_type() == "multipart/alternative"
    assert message["Message-ID"].startswith("<event-")
    text, html = _parts(message)
    # Money in the order's currency, each line and the totals
    assert "2 x Desk <Lamp>" in text
    assert "2,598.00 USD" in text
    assert f"Total:    {order['total_cents'] // 100:,}.{order['total_cents'] % 100:02d} USD" in text
    assert "1 Main St" in text
    assert "12345 Springfield" in text
    # HTML escapes what customers and admins typed: no markup of theirs gets through
    assert "Desk &lt;Lamp&gt;" in html
    assert "Ann &lt;script&gt;" in html
    assert "<script>" not in html
    assert "Ann &lt;b&gt;Buyer&lt;/b&gt;" in html
    # The queue records it as sent, once, its body erased
    assert _emails(sessions) == [("order_placed", SENT)]
    with sessions() as session:
        assert session.scalars(select(Email.message)).one() is None


def test_paid_shipped_delivered_and_refunded_each_send_their_email(
    ann: Buyer, product: dict[str, Any], shop: Shop, mailbox: Mailbox, sessions: sessionmaker[Session]
) -> None:
    order = ann.buy(product["id"])
    assert ann.pay(order["id"]).status_code == 200
    for status in ("shipped", "delivered"):
        response = shop.client.put(
            f"/api/admin/orders/{order['id']}/status", json={"status": status}, headers=shop.headers
        )
        assert response.status_code == 200, response.json
    refund = shop.client.post(
        f"/api/admin/orders/{order['id']}/refund", json={"amount_cents": 50_000}, headers=shop.headers
    )
    assert refund.status_code == 200, refund.json

    subjects = [m["Subject"] for m in mailbox.to(ann.account.email)]
    oid = order["id"]
    assert subjects == [
        f"Order #{oid} received",
        f"Payment received for order #{oid}",
        f"Order #{oid} has shipped",
        f"Order #{oid} was delivered",
        f"Refund of 500.00 USD for order #{oid}",
    ]
    text, _ = _parts(mailbox.to(ann.account.email)[-1])
    assert "We refunded 500.00 USD" in text
    assert [status for _, status in _emails(sessions)] == [SENT] * 5


def test_a_cancelled_paid_order_sends_cancelled_then_refunded(
    ann: Buyer, product: dict[str, Any], mailbox: Mailbox
) -> None:
    order = ann.buy(product["id"])
    assert ann.pay(order["id"]).status_code == 200
    response = ann.client.post(f"/api/orders/{order['id']}/cancel", headers=ann.account.headers)
    assert response.status_code == 200, response.json

    subjects = [m["Subject"] for m in mailbox.to(ann.account.email)][2:]
    total = f"{order['total_cents'] // 100:,}.{order['total_cents'] % 100:02d} USD"
    assert subjects == [f"Order #{order['id']} was cancelled", f"Refund of {total} for order #{order['id']}"]


def test_a_refused_checkout_sends_nothing(
    ann: Buyer, product: dict[str, Any], mailbox: Mailbox, sessions: sessionmaker[Session]
) -> None:
    ann.added(1, product_id=product["id"])
    response = ann.checkout({**ADDRESS, "country": "XX"})
    assert response.status_code == 422
    assert mailbox.to(ann.account.email) == []
    assert _emails(sessions) == []
