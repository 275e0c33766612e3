"""The names of the outbox events of product changes (docs/operations.md lists who receives them).

A single product write publishes its event with `outbox.publish`; the bulk import publishes one event per
created or updated product with `publish_products`, in one statement inside its transaction
(docs/webhooks.md: the same events, the same payload, as if each product had been written on its own).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Integer, String, bindparam, func, insert, literal, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from shopwright import outbox
from shopwright.db import UTCDateTime, is_postgres, table_of, utcnow

PRODUCT_CREATED = "product.created"
PRODUCT_UPDATED = "product.updated"
PRODUCT_DELETED = "product.deleted"

_EVENTS = table_of(outbox.Event)
_COLUMNS = ["name", "payload", "created_at", "attempts", "next_attempt_at"]
_IDS = (
    func.unnest(bindparam("ids", type_=ARRAY(Integer)))
    .table_valued("product_id", with_ordinality="position")
    .render_derived(name="touched")
)
# PostgreSQL: any number of events in one INSERT … SELECT over an array (no row built in Python), in the
# order of the ids given, so that a consumer reading the outbox by id sees the import's order.
_INSERT_MANY = insert(_EVENTS).from_select(
    _COLUMNS,
    select(
        bindparam("name", type_=String),
        func.json_build_object("product_id", _IDS.c.product_id),
        bindparam("at", type_=UTCDateTime),
        literal(0),
        bindparam("due", type_=UTCDateTime),
    ).order_by(_IDS.c.position),
)
SQLITE_BATCH = 5_000


def publish_products(session: Session, name: str, product_ids: Sequence[int]) -> int:
    """Record one `name` event `{"product_id": id}` per product, in the caller's transaction.

    Delivered after commit like any published event (a round in-process where the outbox is attached,
    the rest by `flask deliver-events` or a worker). Return how many events were written.
    """
    if not product_ids:
        return 0
    now = utcnow()
    if is_postgres(session):
        session.execute(_INSERT_MANY, {"ids": list(product_ids), "name": name, "at": now, "due": now})
    else:
        rows = [
            {
                "name": name,
                "payload": {"product_id": pid},
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for pid in product_ids
        ]
        for start in range(0, len(rows), SQLITE_BATCH):
            session.execute(insert(_EVENTS), rows[start : start + SQLITE_BATCH])
    outbox.deliver_after_commit(session)
    return len(product_ids)
