"""Payment test helpers shared by the service and concurrency suites: bare rows, gateways that lose
their answer, and a payment left `processing`."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import column, func, insert, select, table
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import utcnow
from shopwright.orders.models import Order
from shopwright.outbox import Event
from shopwright.payments.errors import PaymentProviderError
from shopwright.payments.gateway import ChargeResult, TestGateway
from shopwright.payments.models import Payment
from tests.factories import customer
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer

WEBHOOK_SECRET = "whsec-reconcile-tests-0123456789abcdef"

_serial = itertools.count(1)
USERS = table("users", column("id"), column("email"), column("password_hash"))
ORDERS = table(
    "orders",
    column("id"),
    column("user_id"),
    column("status"),
    column("currency"),
    column("subtotal_cents"),
    column("total_cents"),
    column("shipping_address"),
)


def add_user(session: Session) -> int:
    """Insert a bare user row (the orders and payments tables only need its id)."""
    email = f"payer{next(_serial)}@example.com"
    return int(session.scalar(insert(USERS).values(email=email, password_hash="x").returning(USERS.c.id)))


def add_order(session: Session, user_id: int, total_cents: int = 100) -> int:
    """Insert a minimal pending order with Core: subtotal = total, no discount, shipping or tax."""
    values = {
        "user_id": user_id,
        "status": "pending",
        "currency": "USD",
        "subtotal_cents": total_cents,
        "total_cents": total_cents,
        "shipping_address": '"1 Main St"',
    }
    return int(session.scalar(insert(ORDERS).values(**values).returning(ORDERS.c.id)))


def later() -> datetime:
    """A moment past RECONCILE_AFTER and before NOT_CHARGED_AFTER, for payments started just now."""
    return utcnow() + timedelta(minutes=11)


class LostAnswerGateway(TestGateway):
    """Charges, then the answer is lost on the way back (a timeout): the payment stays processing."""

    def charge(self, **kwargs: Any) -> ChargeResult:
        super().charge(**kwargs)
        raise PaymentProviderError("Timed out waiting for the payment provider.")


def stuck_order(
    app: Flask,
    shop: Shop,
    gateway: TestGateway,
    token: str = "tok_visa",  # noqa: S107
) -> tuple[int, int]:
    """Buy a product and pay through `gateway`: 502, the payment processing. Return (order id, variant id)."""
    client = app.test_client()
    product = shop.product(shop.category()["id"], stock_quantity=5)
    buyer = Buyer(client, customer(client))
    order = buyer.buy(product["id"], 2)
    app.extensions["shopwright.gateway"] = gateway
    assert buyer.pay(order["id"], token).status_code == 502
    return order["id"], product["variants"][0]["id"]


def payment_state(sessions: sessionmaker[Session], order_id: int) -> tuple[str, list[str], int]:
    """Return the order's status, its payments' statuses and how many order.paid events exist."""
    with sessions() as session:
        status = session.scalars(select(Order.status).where(Order.id == order_id)).one()
        payments = session.scalars(select(Payment.status).where(Payment.order_id == order_id)).all()
        paid_events = session.scalar(select(func.count()).where(Event.name == "order.paid")) or 0
    return status, list(payments), paid_events
