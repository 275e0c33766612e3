"""The order status machine (docs/orders.md, Statuses): which status may follow which."""

from __future__ import annotations

from typing import Final, Literal

from shopwright.orders.errors import InvalidTransition

Status = Literal["pending", "paid", "shipped", "delivered", "cancelled", "refunded"]
PENDING: Final = "pending"
PAID: Final = "paid"
SHIPPED: Final = "shipped"
DELIVERED: Final = "delivered"
CANCELLED: Final = "cancelled"
REFUNDED: Final = "refunded"

# pending → paid → shipped → delivered; pending|paid → cancelled; paid|shipped|delivered → refunded.
TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    PENDING: frozenset({PAID, CANCELLED}),
    PAID: frozenset({SHIPPED, CANCELLED, REFUNDED}),
    SHIPPED: frozenset({DELIVERED, REFUNDED}),
    DELIVERED: frozenset({REFUNDED}),
    CANCELLED: frozenset(),
    REFUNDED: frozenset(),
}


def sources(target: str) -> frozenset[str]:
    """Return the statuses from which an order may move to `target`."""
    return frozenset(source for source, targets in TRANSITIONS.items() if target in targets)


def check_transition(current: str, target: str) -> None:
    """Raise InvalidTransition unless an order in `current` may move to `target`."""
    if target not in TRANSITIONS.get(current, frozenset()):
        allowed = ", ".join(sorted(TRANSITIONS.get(current, frozenset()))) or "none"
        raise InvalidTransition(
            f"A {current} order cannot become {target} (allowed: {allowed})", current=current, target=target
        )
