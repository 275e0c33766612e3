"""What the fault tests check after an outage: whole orders and agreeing stock, and calls that do not hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.cart.models import CONVERTED, Cart
from shopwright.inventory.models import StockLevel
from shopwright.orders.models import Order, OrderItem
from tests.factories.cart import reserved_in_active_carts


def assert_orders_whole_and_stock_agrees(
    sessions: sessionmaker[Session], variant_id: int, stocked: int
) -> tuple[int, int]:
    """Assert every order is whole and the variant's stock matches orders and carts; return (orders, sold)."""
    with sessions() as session:
        orders = session.execute(
            select(
                Order.id, Order.subtotal_cents, func.count(OrderItem.id), func.sum(OrderItem.line_total_cents)
            )
            .outerjoin(OrderItem, OrderItem.order_id == Order.id)
            .group_by(Order.id)
        ).all()
        for order_id, subtotal, lines, line_totals in orders:
            assert lines >= 1, f"order {order_id} has no lines"
            assert line_totals == subtotal, f"order {order_id}'s lines do not add up to its subtotal"
        sold = session.scalar(
            select(func.coalesce(func.sum(OrderItem.quantity), 0)).where(OrderItem.variant_id == variant_id)
        )
        converted = session.scalar(select(func.count()).select_from(Cart).where(Cart.status == CONVERTED))
        level = session.get(StockLevel, variant_id)
        assert level is not None
        held = reserved_in_active_carts(session).get(variant_id, 0)
    assert converted == len(orders), "every converted cart has its order, and no order lacks its cart"
    assert (level.quantity, level.reserved) == (stocked - sold, held)
    return len(orders), int(sold or 0)


def without_hanging(
    call: Callable[[], Any], timeout: float, on_timeout: Callable[[], None]
) -> tuple[Any, float]:
    """Run `call` in a thread; return its result and duration, or fail (after `on_timeout`) if it hangs."""
    result: list[Any] = []
    started = time.monotonic()
    thread = threading.Thread(target=lambda: result.append(call()))
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        on_timeout()  # let the stuck call end, so the thread does too
        thread.join(30)
        pytest.fail(f"the request was still waiting after {timeout:.0f} s")
    return result[0], time.monotonic() - started
