"""Sales, profit and dashboard figures as SQL aggregates: one statement per figure, none per row.

What counts (docs/backoffice.md): orders paid in the window (by `paid_at`) whose status is paid, shipped
or delivered. An order's revenue is its goods (line totals) minus its discount minus what was refunded
of its payment, never below 0; its cost is the unit cost snapshotted at checkout times quantity. A product's
(or category's) revenue is its lines' share of the order's revenue, pro rata to their line totals.

Money is summed by the database (PostgreSQL sums BIGINT into NUMERIC: no overflow) and handed back as
Python ints. The window, the answer types, the rounding and the low-stock list are the service's own
(`shopwright.reports.service`): only where the figures come from differs.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    case,
    cast,
    desc,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import Session

from shopwright.catalog.models import Category, Product
from shopwright.orders.models import COUNTED_STATUSES, Order, OrderItem
from shopwright.payments.models import Payment
from shopwright.reports.service import (
    LOW_STOCK_LIMIT,
    MAX_FILLED_DAYS,
    TOP_PRODUCTS,
    CategorySales,
    Dashboard,
    DaySales,
    ProductSales,
    Profit,
    Window,
    _int,
    _percent,
    low_stock,
)


def _counted(window: Window, dialect: str) -> Any:
    """The window's counted orders with their revenue (`net_cents`), as a CTE."""
    # The order's one succeeded payment carries what was refunded of it (reserved before the provider is
    # asked, given back if it refuses), read per order through ix_payments_order_id: a short window
    # probes its own orders' payments instead of hashing every payment.
    refunded = (
        select(Payment.refunded_cents)
        .where(Payment.order_id == Order.id, Payment.status == "succeeded")
        .scalar_subquery()
    )
    goods = Order.subtotal_cents - Order.discount_cents - func.coalesce(refunded, 0)
    at_least_zero = func.greatest if dialect == "postgresql" else func.max  # SQLite's max(a, b) is scalar
    return (
        select(
            Order.id,
            Order.user_id,
            Order.subtotal_cents,
            Order.paid_at,
            at_least_zero(goods, 0).label("net_cents"),
        )
        .where(Order.status.in_(COUNTED_STATUSES), Order.paid_at.is_not(None), *window.holds(Order.paid_at))
        # Materialized: each order's revenue is worked out once, not again for each of its lines.
        .cte("counted")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )


def _line_revenue(counted: Any) -> ColumnElement[Any]:
    """Sum the lines' shares of their orders' revenue (each line's total, less its part of the cut)."""
    # Most orders have no discount and no refund: their lines count whole, summed as integers. Only the
    # lines of reduced orders give back their pro-rata part of the cut, worked out in NUMERIC on
    # PostgreSQL (`1.0` avoids an integer division; REAL on SQLite).
    cut = counted.c.subtotal_cents - counted.c.net_cents
    given_back = literal_column("1.0") * OrderItem.line_total_cents * cut / counted.c.subtotal_cents
    reduced = func.sum(case((cut > 0, given_back)))
    return func.sum(OrderItem.line_total_cents) - func.coalesce(reduced, 0)


def profit_report(session: Session, window: Window) -> Profit:
    """Return the window's revenue, cost, profit and number of counted orders."""
    counted = _counted(window, session.get_bind().dialect.name)
    # Each order's cost from its own lines (an index-only scan per order): a short window never reads
    # the lines of other orders.
    cost = (
        select(func.sum(OrderItem.unit_cost_cents * OrderItem.quantity))
        .where(OrderItem.order_id == counted.c.id)
        .scalar_subquery()
    )
    row = session.execute(
        select(
            func.coalesce(func.sum(counted.c.net_cents), 0),
            func.coalesce(func.sum(cost), 0),
            func.count(),
        )
    ).one()
    revenue_cents, cost_cents = _int(row[0]), _int(row[1])
    return Profit(revenue_cents, cost_cents, revenue_cents - cost_cents, int(row[2]))


def product_sales(session: Session, window: Window, *, limit: int) -> list[ProductSales]:
    """Return the window's best-selling products (by revenue, then units), with their share of the totals."""
    counted = _counted(window, session.get_bind().dialect.name)
    per_product = (
        select(
            OrderItem.product_id,
            func.sum(OrderItem.quantity).label("units"),
            func.coalesce(_line_revenue(counted), 0).label("revenue"),
        )
        .join(counted, counted.c.id == OrderItem.order_id)
        .group_by(OrderItem.product_id)
        .subquery("per_product")
    )
    revenue = func.round(per_product.c.revenue)
    rows = session.execute(
        select(
            per_product.c.product_id,
            Product.name,
            per_product.c.units,
            revenue,
            func.sum(per_product.c.units).over().label("all_units"),
            func.sum(revenue).over().label("all_revenue"),
        )
        .join(Product, Product.id == per_product.c.product_id)
        .order_by(desc(revenue), desc(per_product.c.units), per_product.c.product_id)
        .limit(limit)
    ).all()
    return [
        ProductSales(
            product_id=row[0],
            name=row[1],
            units=_int(row[2]),
            revenue_cents=_int(row[3]),
            units_percent=_percent(_int(row[2]), _int(row[4])),
            revenue_percent=_percent(_int(row[3]), _int(row[5])),
        )
        for row in rows
    ]


def category_sales(session: Session, window: Window) -> list[CategorySales]:
    """Return the window's sales per product category (each product counted under its own category only)."""
    counted = _counted(window, session.get_bind().dialect.name)
    per_category = (
        select(
            Product.category_id,
            func.sum(OrderItem.quantity).label("units"),
            func.coalesce(_line_revenue(counted), 0).label("revenue"),
        )
        .select_from(OrderItem)
        .join(counted, counted.c.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .group_by(Product.category_id)
        .subquery("per_category")
    )
    revenue = func.round(per_category.c.revenue)
    rows = session.execute(
        select(
            per_category.c.category_id,
            Category.parent_id,
            Category.name,
            per_category.c.units,
            revenue,
            func.sum(revenue).over(),
        )
        .outerjoin(Category, Category.id == per_category.c.category_id)
        .order_by(desc(revenue), desc(per_category.c.units), per_category.c.category_id)
    ).all()
    return [
        CategorySales(
            category_id=row[0],
            parent_id=row[1],
            name=row[2],
            units=_int(row[3]),
            revenue_cents=_int(row[4]),
            revenue_percent=_percent(_int(row[4]), _int(row[5])),
        )
        for row in rows
    ]


def dashboard(session: Session, window: Window, *, low_stock_threshold: int) -> Dashboard:
    """Return the dashboard's figures for the window (low stock is as of now)."""
    days = revenue_by_day(session, window)
    revenue = sum(day.revenue_cents for day in days)
    orders = sum(day.orders for day in days)
    return Dashboard(
        revenue_cents=revenue,
        orders_by_status=orders_by_status(session, window),
        average_order_value_cents=_int(Decimal(revenue) / orders) if orders else 0,
        customers=customers(session, window),
        top_products=product_sales(session, window, limit=TOP_PRODUCTS),
        revenue_by_day=days,
        low_stock=low_stock(session, threshold=low_stock_threshold, limit=LOW_STOCK_LIMIT),
    )


def revenue_by_day(session: Session, window: Window) -> list[DaySales]:
    """Return revenue and counted orders per UTC day of payment, days without sales as zeros."""
    counted = _counted(window, session.get_bind().dialect.name)
    day = _utc_day(session, counted.c.paid_at)
    rows = session.execute(
        select(day, func.sum(counted.c.net_cents), func.count()).group_by(day).order_by(day)
    ).all()
    found = {_as_date(row[0]): DaySales(_as_date(row[0]), _int(row[1]), int(row[2])) for row in rows}
    first = window.first or min(found, default=None)
    last = window.last or max(found, default=None)
    if first is None or last is None or (last - first).days >= MAX_FILLED_DAYS:
        return list(found.values())
    every_day = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [found.get(d) or DaySales(d, 0, 0) for d in every_day]


def orders_by_status(session: Session, window: Window) -> dict[str, int]:
    """Count the orders placed in the window (by `created_at`) per status, every status listed."""
    rows = session.execute(
        select(Order.status, func.count()).where(*window.holds(Order.created_at)).group_by(Order.status)
    ).all()
    counts = dict.fromkeys(("pending", "paid", "shipped", "delivered", "cancelled", "refunded"), 0)
    counts.update({status: int(count) for status, count in rows})
    return counts


def customers(session: Session, window: Window) -> int:
    """Count the distinct customers with at least one counted order in the window."""
    counted = _counted(window, session.get_bind().dialect.name)
    return int(session.scalar(select(func.count(func.distinct(counted.c.user_id)))) or 0)


def _utc_day(session: Session, column: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite keeps naive UTC text


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
