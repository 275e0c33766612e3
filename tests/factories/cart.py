"""Helpers for cart tests: a customer's cart through the real API, and direct checks of its rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart.models import ACTIVE, Cart, CartItem
from shopwright.db import utcnow
from shopwright.inventory.models import StockLevel
from tests.factories import Account

CART = "/api/cart"


class Shopper:
    """A customer using their cart through the HTTP API."""

    def __init__(self, client: FlaskClient, account: Account) -> None:
        self.client = client
        self.account = account

    def get(self) -> dict[str, Any]:
        response = self.client.get(CART, headers=self.account.headers)
        assert response.status_code == 200, response.json
        body: dict[str, Any] = response.json  # type: ignore[assignment]
        return body

    def add(self, quantity: int = 1, **target: int) -> Any:
        return self.client.post(
            f"{CART}/items", json={**target, "quantity": quantity}, headers=self.account.headers
        )

    def added(self, quantity: int = 1, **target: int) -> dict[str, Any]:
        response = self.add(quantity, **target)
        assert response.status_code == 201, response.json
        body: dict[str, Any] = response.json
        return body

    def line(self, variant_id: int, *, saved: bool = False) -> dict[str, Any]:
        lines = self.get()["saved_items" if saved else "items"]
        return next(line for line in lines if line["variant_id"] == variant_id)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.client.open(f"{CART}{path}", method=method, json=body, headers=self.account.headers)


def total_reserved(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.coalesce(func.sum(StockLevel.reserved), 0))) or 0)


def cart_lines(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CartItem)) or 0)


def lapse_carts(sessions: sessionmaker[Session], minutes: int = 1) -> None:
    """Move every active cart's expiry into the past (the controllable clock of the expiry tests)."""
    with sessions() as session, session.begin():
        session.execute(
            update(Cart).where(Cart.status == ACTIVE).values(expires_at=utcnow() - timedelta(minutes=minutes))
        )


def reserved_in_active_carts(session: Session) -> dict[int, int]:
    """Return units held per variant by lines of active carts (what `reserved` must equal)."""
    rows = session.execute(
        select(CartItem.variant_id, func.sum(CartItem.quantity))
        .join(Cart, Cart.id == CartItem.cart_id)
        .where(Cart.status == ACTIVE, CartItem.saved_for_later.is_(False))
        .group_by(CartItem.variant_id)
    ).all()
    return {variant_id: int(units) for variant_id, units in rows}
