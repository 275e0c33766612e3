"""Stock movements: the one place that records changes of quantity on hand, and their list.

Every use case that changes `inventory.quantity` calls `record` in the same transaction, with what its
conditional UPDATE returned (the quantity it left), so the history cannot drift from the stock: a
rolled-back change rolls back its movement. Reservations are not movements: they hold units in carts
without changing the quantity on hand (`reserved` is not history). See docs/inventory.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import Integer, String, bindparam, func, insert, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shopwright.catalog.errors import VariantNotFound
from shopwright.catalog.models import Variant
from shopwright.db import UTCDateTime, get_by_id, is_postgres, table_of, utcnow
from shopwright.inventory.models import StockMovement
from shopwright.pagination import KeysetPage, keyset_page


class Change(NamedTuple):
    """A variant's quantity moved by `delta` and is now `quantity_after`."""

    variant_id: int
    delta: int
    quantity_after: int


_MOVEMENTS = table_of(StockMovement)
_ARRAYS = (
    func.unnest(
        bindparam("variants", type_=ARRAY(Integer)),
        bindparam("deltas", type_=ARRAY(Integer)),
        bindparam("afters", type_=ARRAY(Integer)),
    )
    .table_valued("variant_id", "delta", "quantity_after")
    .render_derived(name="moved")
)
# PostgreSQL: any number of movements in one INSERT built once (three array parameters), so a checkout
# of 50 lines and an import of 100,000 rows both write their history in one statement.
_INSERT_ARRAYS = insert(_MOVEMENTS).from_select(
    ["variant_id", "delta", "quantity_after", "reason", "actor_id", "order_id", "created_at"],
    select(
        _ARRAYS.c.variant_id,
        _ARRAYS.c.delta,
        _ARRAYS.c.quantity_after,
        bindparam("reason", type_=String),
        bindparam("actor", type_=Integer),
        bindparam("order", type_=Integer),
        bindparam("at", type_=UTCDateTime),
    ),
)


def record(
    session: Session,
    reason: str,
    changes: Iterable[Change],
    *,
    actor_id: int | None = None,
    order_id: int | None = None,
) -> int:
    """Record stock changes in one INSERT (delta 0 skipped); runs inside the caller's transaction.

    Return how many movements were written.
    """
    moved = [change for change in changes if change.delta != 0]
    if not moved:
        return 0
    now = utcnow()
    if is_postgres(session):
        params = {
            "variants": [c.variant_id for c in moved],
            "deltas": [c.delta for c in moved],
            "afters": [c.quantity_after for c in moved],
            "reason": reason,
            "actor": actor_id,
            "order": order_id,
            "at": now,
        }
        session.execute(_INSERT_ARRAYS, params)
    else:  # SQLite: one executemany, which SQLAlchemy sends as multi-row INSERTs
        rows = [
            {
                "variant_id": c.variant_id,
                "delta": c.delta,
                "quantity_after": c.quantity_after,
                "reason": reason,
                "actor_id": actor_id,
                "order_id": order_id,
                "created_at": now,
            }
            for c in moved
        ]
        session.execute(insert(_MOVEMENTS), rows)
    return len(moved)


def list_movements(
    session: Session, variant_id: int, *, limit: int, cursor: str | None
) -> KeysetPage[StockMovement]:
    """Return a page of a variant's movements, newest first; raise VariantNotFound for an unknown variant."""
    if get_by_id(session, Variant, variant_id) is None:
        raise VariantNotFound(f"Variant {variant_id} not found")
    statement = select(StockMovement).where(StockMovement.variant_id == variant_id)
    return keyset_page(session, statement, StockMovement.id, limit=limit, cursor=cursor)
