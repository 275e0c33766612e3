"""The sales rollup the back-office reports read: what each counted order adds, kept up to date in the
transaction of every change that alters it (docs/backoffice.md, "The sales rollup").

An order counts when its status is paid, shipped or delivered and it has a `paid_at`. It then adds:
- its revenue (`subtotal - discount - refunded`, never below 0; `refunded` is its succeeded payment's
  `refunded_cents`, which a refund reserves at once and a refused refund gives back), its cost (lines'
  unit cost x quantity) and 1 order to its UTC day of payment (`sales_days`);
- per product, its lines' units, cost and revenue: each line's total less its pro-rata part of the cut
  (`line x cut / subtotal`, worked out in NUMERIC as the live definition does), to the day, month,
  quarter and year of payment (`sales_products`, grain `d`/`m`/`q`/`y`), so a window reads whole years,
  quarters and months where it can and single days only at its ragged ends;
- its customer and revenue under its day (`sales_orders`, one row per order ever synced: what this
  module last applied, so the next sync knows what to take back).
A counted order also adds 1 to its customer's month, quarter and year (`sales_customers`: distinct
customers of a window). Every order that is not pending adds 1 to its status on its UTC day of creation
(`order_statuses`, the dashboard's orders_by_status; pending orders are read from the orders' own
partial index).

`sync_order(session, order_id)` is the only writer. It is idempotent and state-based: it locks the
order's `sales_orders` row, reads the order as it is now (in this transaction), and applies the
difference between that and what the row says was applied before, as atomic deltas
(`INSERT … ON CONFLICT DO UPDATE SET x = x + excluded.x`): two transactions adding to the same day and
product both land, and nothing is read into Python and written back. Every use case that makes an order
count, stop counting, changes its status or its refunded amount calls it once, last, in its transaction.

Lock order (after the caller's own locks): the order's `sales_orders` row, then `order_statuses` rows in
ascending (day, status), `sales_days` rows in ascending day, `sales_products` rows in ascending (grain,
period, product_id), `sales_customers` rows in ascending (grain, period, user_id).

`rebuild(session)` recomputes everything from the orders with set-based SQL (`flask rebuild-sales-rollup`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Index,
    Integer,
    Numeric,
    Select,
    String,
    and_,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from shopwright.db import Base
from shopwright.orders.models import COUNTED_STATUSES, Order, OrderItem
from shopwright.payments.models import Payment, PaymentStatus

PENDING = "pending"

GRAINS = ("d", "m", "q", "y")


class SalesOrder(Base):
    """What the rollup holds of one order: its day of payment and revenue while it counts."""

    __tablename__ = "sales_orders"
    __table_args__ = (
        Index(
            "ix_sales_orders_paid_day_user",
            "paid_day",
            "user_id",
            postgresql_where=text("paid_day IS NOT NULL"),
            sqlite_where=text("paid_day IS NOT NULL"),
        ),
    )

    order_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The status it is counted under in `order_statuses` (by its UTC day of creation); NULL while pending.
    status: Mapped[str | None] = mapped_column(String(16))
    created_day: Mapped[date | None] = mapped_column(Date)
    user_id: Mapped[int | None] = mapped_column(Integer)
    # NULL while the order does not count.
    paid_day: Mapped[date | None] = mapped_column(Date)
    net_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class OrderStatusDay(Base):
    """How many orders created on a UTC day have each status now, pending excepted (the dashboard's
    orders_by_status reads pending orders, which are few, from the orders' own index)."""

    __tablename__ = "order_statuses"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SalesDay(Base):
    """The counted orders of one UTC day of payment: how many, their revenue and cost."""

    __tablename__ = "sales_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    orders: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    revenue_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cost_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SalesProduct(Base):
    """One product's counted sales in a day, month, quarter or year of payment (`grain` d/m/q/y, `period`
    its first day). `revenue` is exact NUMERIC: pro-rata shares are summed unrounded and rounded when read."""

    __tablename__ = "sales_products"

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    revenue: Mapped[Decimal] = mapped_column(Numeric, default=0, server_default="0")
    cost_cents: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class SalesCustomer(Base):
    """How many counted orders a customer paid in a month, quarter or year (`grain` m/q/y): the distinct
    customers of a window are those of its whole periods here and of its days in `sales_orders`. A row
    whose count falls to 0 is deleted."""

    __tablename__ = "sales_customers"

    grain: Mapped[str] = mapped_column(String(1), primary_key=True)
    period: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    orders: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


@dataclass(frozen=True)
class _Applied:
    """An order's contribution: to `order_statuses` unless `status` is None (pending), to the sales unless
    `paid_day` is None (it does not count)."""

    paid_day: date | None
    user_id: int | None
    net_cents: int
    cost_cents: int
    subtotal_cents: int
    status: str | None = None
    created_day: date | None = None


_NOTHING = _Applied(None, None, 0, 0, 0)


def periods(day: date) -> dict[str, date]:
    """Return the first day of the day, month, quarter and year a day belongs to, by grain."""
    quarter = day.replace(month=day.month - (day.month - 1) % 3, day=1)
    return {"d": day, "m": day.replace(day=1), "q": quarter, "y": day.replace(month=1, day=1)}


def sync_order(session: Session, order_id: int) -> None:
    """Bring the rollup in line with the order as it is now; runs inside the caller's transaction, last."""
    session.flush()  # the caller's ORM changes (status, paid_at) must be what the statements below read
    before = _lock_applied(session, order_id)
    now, subtotal = _current(session, order_id)
    if before.paid_day is not None:  # a paid order's lines and subtotal no longer change
        before = replace(before, subtotal_cents=subtotal)
    if now == before:
        return
    deltas = [(-1, before), (1, now)]
    _add_statuses(session, deltas)
    _add_days(session, deltas)
    _add_products(session, order_id, deltas)
    _add_customers(session, deltas)
    session.execute(
        update(SalesOrder)
        .where(SalesOrder.order_id == order_id)
        .values(
            status=now.status,
            created_day=now.created_day,
            user_id=now.user_id,
            paid_day=now.paid_day,
            net_cents=now.net_cents,
            cost_cents=now.cost_cents,
        )
    )


def _upsert(session: Session) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return postgresql.Insert if session.get_bind().dialect.name == "postgresql" else sqlite.Insert


def _lock_applied(session: Session, order_id: int) -> _Applied:
    """Lock the order's rollup row (creating it, empty, the first time) and return what it applied."""
    locked = select(SalesOrder).where(SalesOrder.order_id == order_id).with_for_update()
    row = session.execute(locked.execution_options(populate_existing=True)).scalar_one_or_none()
    if row is None:
        inserted = session.execute(
            _upsert(session)(SalesOrder)
            .values(order_id=order_id, paid_day=None, net_cents=0, cost_cents=0)
            .on_conflict_do_nothing(index_elements=["order_id"])
            .returning(SalesOrder.order_id)
        ).scalar_one_or_none()
        if inserted is not None:  # ours, locked until commit
            return _NOTHING
        row = session.execute(locked.execution_options(populate_existing=True)).scalar_one()
    return _Applied(row.paid_day, row.user_id, row.net_cents, row.cost_cents, 0, row.status, row.created_day)


def _current(session: Session, order_id: int) -> tuple[_Applied, int]:
    """Read what the order adds now, and its subtotal (after the lock: READ COMMITTED sees every earlier
    commit)."""
    refunded = (
        select(Payment.refunded_cents)
        .where(Payment.order_id == Order.id, Payment.status == PaymentStatus.SUCCEEDED)
        .scalar_subquery()
    )
    cost = (
        select(func.coalesce(func.sum(OrderItem.unit_cost_cents * OrderItem.quantity), 0))
        .where(OrderItem.order_id == Order.id)
        .scalar_subquery()
    )
    row = session.execute(
        select(
            Order.status,
            Order.created_at,
            Order.user_id,
            Order.paid_at,
            Order.subtotal_cents,
            Order.discount_cents,
            func.coalesce(refunded, 0).label("refunded"),
            cost.label("cost"),
        ).where(Order.id == order_id)
    ).one_or_none()
    if row is None:
        return _NOTHING, 0
    subtotal = int(row.subtotal_cents)
    listed = {} if row.status == PENDING else {"status": row.status, "created_day": utc_day(row.created_at)}
    if row.status not in COUNTED_STATUSES or row.paid_at is None:
        return replace(_NOTHING, **listed), subtotal
    net = max(subtotal - int(row.discount_cents) - int(row.refunded), 0)
    counted = _Applied(utc_day(row.paid_at), row.user_id, net, int(row.cost), subtotal, **listed)
    return counted, subtotal


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def _add_statuses(session: Session, deltas: list[tuple[int, _Applied]]) -> None:
    counts: dict[tuple[date, str], int] = {}
    for sign, applied in deltas:
        if applied.status is not None and applied.created_day is not None:
            key = (applied.created_day, applied.status)
            counts[key] = counts.get(key, 0) + sign
    rows = [{"day": day, "status": status, "orders": n} for (day, status), n in sorted(counts.items()) if n]
    if not rows:
        return
    insert = _upsert(session)(OrderStatusDay).values(rows)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["day", "status"], set_={"orders": OrderStatusDay.orders + insert.excluded.orders}
        )
    )


def _add_days(session: Session, deltas: list[tuple[int, _Applied]]) -> None:
    totals: dict[date, list[int]] = {}
    for sign, applied in deltas:
        if applied.paid_day is not None:
            day = totals.setdefault(applied.paid_day, [0, 0, 0])
            day[0] += sign
            day[1] += sign * applied.net_cents
            day[2] += sign * applied.cost_cents
    rows = [
        {"day": day, "orders": v[0], "revenue_cents": v[1], "cost_cents": v[2]}
        for day, v in sorted(totals.items())
        if any(v)
    ]
    if not rows:
        return
    insert = _upsert(session)(SalesDay).values(rows)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["day"],
            set_={
                "orders": SalesDay.orders + insert.excluded.orders,
                "revenue_cents": SalesDay.revenue_cents + insert.excluded.revenue_cents,
                "cost_cents": SalesDay.cost_cents + insert.excluded.cost_cents,
            },
        )
    )


def _add_customers(session: Session, deltas: list[tuple[int, _Applied]]) -> None:
    counts: dict[tuple[str, date, int], int] = {}
    for sign, applied in deltas:
        if applied.paid_day is not None and applied.user_id is not None:
            for grain, period in periods(applied.paid_day).items():
                if grain != "d":  # days: sales_orders' own index
                    key = (grain, period, applied.user_id)
                    counts[key] = counts.get(key, 0) + sign
    ordered = sorted(counts.items())  # ascending (grain, period, user_id): the lock order
    rows = [
        {"grain": grain, "period": period, "user_id": user_id, "orders": n}
        for (grain, period, user_id), n in ordered
        if n
    ]
    if not rows:
        return
    insert = _upsert(session)(SalesCustomer).values(rows)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["grain", "period", "user_id"],
            set_={"orders": SalesCustomer.orders + insert.excluded.orders},
        )
    )
    fallen = [key for key, n in ordered if n < 0]
    if fallen:
        # A row that fell to 0 goes (we hold its lock): the reports then read customers from the primary
        # key alone, without visiting the table. A racing upsert waits, then inserts it anew.
        session.execute(
            delete(SalesCustomer).where(
                SalesCustomer.orders == 0,
                or_(
                    *(
                        and_(
                            SalesCustomer.grain == grain,
                            SalesCustomer.period == period,
                            SalesCustomer.user_id == user_id,
                        )
                        for grain, period, user_id in fallen
                    )
                ),
            )
        )


def line_revenue(subtotal_cents: int, cut_cents: int) -> ColumnElement[Any]:
    """A line's revenue: its total less its pro-rata part of the order's cut, in NUMERIC on PostgreSQL
    (the `1.0 * line * cut / subtotal` of the live definition and of rebuild_statements, so the sums
    are the same to the last digit)."""
    if cut_cents <= 0:
        return OrderItem.line_total_cents.expression
    subtotal = literal(subtotal_cents, BigInteger)
    cut = literal(cut_cents, BigInteger)
    return OrderItem.line_total_cents - literal_column("1.0") * OrderItem.line_total_cents * cut / subtotal


def _add_products(session: Session, order_id: int, deltas: list[tuple[int, _Applied]]) -> None:
    parts: list[Select[Any]] = []
    for sign, applied in deltas:
        if applied.paid_day is None:
            continue
        cut = applied.subtotal_cents - applied.net_cents
        for grain, period in periods(applied.paid_day).items():
            parts.append(
                select(
                    literal(grain, String(1)).label("grain"),
                    literal(period, Date).label("period"),
                    OrderItem.product_id.label("product_id"),
                    (sign * OrderItem.quantity).label("units"),
                    (sign * line_revenue(applied.subtotal_cents, cut)).label("revenue"),
                    (sign * OrderItem.unit_cost_cents * OrderItem.quantity).label("cost_cents"),
                ).where(OrderItem.order_id == order_id)
            )
    if not parts:
        return
    lines = union_all(*parts).subquery("lines")
    summed = (
        select(
            lines.c.grain,
            lines.c.period,
            lines.c.product_id,
            func.sum(lines.c.units),
            func.sum(lines.c.revenue),
            func.sum(lines.c.cost_cents),
        )
        .where(true())  # SQLite: an INSERT … SELECT with an upsert clause needs a WHERE
        .group_by(lines.c.grain, lines.c.period, lines.c.product_id)
        # Rows are locked in one order by every transaction: two syncs never wait on each other in a cycle.
        .order_by(lines.c.grain, lines.c.period, lines.c.product_id)
    )
    insert = _upsert(session)(SalesProduct).from_select(
        ["grain", "period", "product_id", "units", "revenue", "cost_cents"], summed
    )
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["grain", "period", "product_id"],
            set_={
                "units": SalesProduct.units + insert.excluded.units,
                "revenue": SalesProduct.revenue + insert.excluded.revenue,
                "cost_cents": SalesProduct.cost_cents + insert.excluded.cost_cents,
            },
        )
    )


# --- rebuild ------------------------------------------------------------------------------------
def rebuild_statements(dialect: str) -> list[str]:
    """The set-based SQL that fills the rollup from the orders (the rebuild and migration 0012 run it)."""
    if dialect == "postgresql":
        day = "(o.paid_at AT TIME ZONE 'UTC')::date"
        created = "(o.created_at AT TIME ZONE 'UTC')::date"
        month = "date_trunc('month', s.paid_day)::date"
        quarter = "date_trunc('quarter', s.paid_day)::date"
        year = "date_trunc('year', s.paid_day)::date"
        net = "GREATEST(o.subtotal_cents - o.discount_cents - COALESCE(p.refunded_cents, 0), 0)"
    else:
        day = "date(o.paid_at)"
        created = "date(o.created_at)"
        month = "date(s.paid_day, 'start of month')"
        quarter = (
            "date(s.paid_day, 'start of month', "
            "'-' || ((CAST(strftime('%m', s.paid_day) AS INTEGER) - 1) % 3) || ' months')"
        )
        year = "date(s.paid_day, 'start of year')"
        net = "MAX(o.subtotal_cents - o.discount_cents - COALESCE(p.refunded_cents, 0), 0)"
    counted = "o.status IN ('paid', 'shipped', 'delivered') AND o.paid_at IS NOT NULL"
    statements = [
        "DELETE FROM sales_customers",
        "DELETE FROM sales_products",
        "DELETE FROM sales_days",
        "DELETE FROM order_statuses",
        "DELETE FROM sales_orders",
        f"""INSERT INTO sales_orders (order_id, status, created_day, user_id, paid_day, net_cents, cost_cents)
        SELECT o.id, o.status, {created},
               CASE WHEN {counted} THEN o.user_id END,
               CASE WHEN {counted} THEN {day} END,
               CASE WHEN {counted} THEN {net} ELSE 0 END,
               CASE WHEN {counted} THEN COALESCE((SELECT sum(i.unit_cost_cents * i.quantity)
                                                  FROM order_items i WHERE i.order_id = o.id), 0)
                    ELSE 0 END
        FROM orders o
        LEFT JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded'
        WHERE o.status <> 'pending'""",  # noqa: S608
        """INSERT INTO order_statuses (day, status, orders)
        SELECT created_day, status, count(*) FROM sales_orders GROUP BY created_day, status""",
        """INSERT INTO sales_days (day, orders, revenue_cents, cost_cents)
        SELECT paid_day, count(*), sum(net_cents), sum(cost_cents) FROM sales_orders
        WHERE paid_day IS NOT NULL GROUP BY paid_day""",
    ]
    # The same expression as line_revenue(): NUMERIC shares summed unrounded.
    revenue = (
        "i.line_total_cents - CASE WHEN o.subtotal_cents - s.net_cents > 0 THEN "
        "1.0 * i.line_total_cents * (o.subtotal_cents - s.net_cents) / o.subtotal_cents ELSE 0 END"
    )
    for grain, period in (("d", "s.paid_day"), ("m", month), ("q", quarter), ("y", year)):
        statements.append(
            # Built from this module's constants only.
            f"""INSERT INTO sales_products (grain, period, product_id, units, revenue, cost_cents)
            SELECT '{grain}', {period}, i.product_id, sum(i.quantity), sum({revenue}),
                   sum(i.unit_cost_cents * i.quantity)
            FROM sales_orders s
            JOIN orders o ON o.id = s.order_id
            JOIN order_items i ON i.order_id = s.order_id
            WHERE s.paid_day IS NOT NULL
            GROUP BY {period}, i.product_id"""  # noqa: S608
        )
    for grain, period in (("m", month), ("q", quarter), ("y", year)):
        statements.append(
            f"""INSERT INTO sales_customers (grain, period, user_id, orders)
            SELECT '{grain}', {period}, s.user_id, count(*)
            FROM sales_orders s
            WHERE s.paid_day IS NOT NULL
            GROUP BY {period}, s.user_id"""  # noqa: S608
        )
    return statements


def rebuild(session: Session) -> int:
    """Recompute the whole rollup from the orders in one transaction; return how many orders count.

    A repair tool (`flask rebuild-sales-rollup`): the rollup is kept by sync_order and never needs it
    unless orders were changed behind the use cases' back.
    """
    with session.begin():
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            # Syncs wait while it runs (and it waits for theirs): none can slip between delete and refill.
            session.execute(
                text(
                    "LOCK TABLE sales_orders, order_statuses, sales_days, sales_products, sales_customers"
                    " IN EXCLUSIVE MODE"
                )
            )
        for statement in rebuild_statements(dialect):
            session.execute(text(statement))
        return int(
            session.scalar(
                select(func.count()).select_from(SalesOrder).where(SalesOrder.paid_day.is_not(None))
            )
            or 0
        )
