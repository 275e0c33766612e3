"""Helpers for order tests: a customer who fills a cart and checks out through the real API."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders.models import Order
from tests.factories import Account
from tests.factories.cart import Shopper

ORDERS = "/api/orders"
ADDRESS = "1 Main Street, Springfield 12345, US"


class Buyer(Shopper):
    """A customer who shops, checks out and pays through the HTTP API."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        super().__init__(client, account)

    def checkout(self, address: Any = ADDRESS, key: str | None = None, **fields: Any) -> Any:
        headers = {**self.account.headers, **({"Idempotency-Key": key} if key else {})}
        return self.client.post(ORDERS, json={"delivery_address": address, **fields}, headers=headers)

    def ordered(self, address: Any = ADDRESS, **fields: Any) -> dict[str, Any]:
        response = self.checkout(address, **fields)
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def buy(self, product_id: int, quantity: int = 1, **fields: Any) -> dict[str, Any]:
        """Add one product and check out: return the pending order."""
        self.added(quantity, product_id=product_id)
        return self.ordered(**fields)

    def pay(self, order_id: int, token: str = "tok_visa", key: str | None = None) -> Any:  # noqa: S107
        headers = {**self.account.headers, **({"Idempotency-Key": key} if key else {})}
        body = {"order_id": order_id, "payment_method": token}
        return self.client.post("/api/payments/process", json=body, headers=headers)

    def order(self, order_id: int) -> dict[str, Any]:
        response = self.client.get(f"{ORDERS}/{order_id}", headers=self.account.headers)
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json
        return body


def order_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Order)) or 0)
