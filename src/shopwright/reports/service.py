"""Sales, profit and dashboard figures, read from the sales rollup (shopwright.orders.rollup).

What counts (docs/backoffice.md): orders paid in the window (by `paid_at`) whose status is paid, shipped
or delivered. An order's revenue is its goods (line totals) minus its discount minus what was refunded
of its payment, never below 0; its cost is the unit cost snapshotted at checkout times quantity. A product's
(or category's) revenue is its lines' share of the order's revenue, pro rata to their line totals.

The rollup holds those figures per UTC day of payment (`sales_days`), and per product per day, month and
year (`sales_products`), kept up to date in the transaction of every change that alters them. A report
sums the few rollup rows of its window: whole years and months where the window covers them, single days
at its ends (`pieces`). So its cost grows with the products and days of the window, not with its orders.
`tests/support/live_reports.py` keeps the definition over the orders themselves, as the tests' oracle.

Money is summed by the database (PostgreSQL sums BIGINT into NUMERIC: no overflow) and handed back as
Python ints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    and_,
    desc,
    false,
    func,
    literal_column,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from shopwright.catalog.models import Category, Product, Variant
from shopwright.inventory.models import StockLevel
from shopwright.orders.models import Order
from shopwright.orders.rollup import OrderStatusDay, SalesCustomer, SalesDay, SalesOrder, SalesProduct
from shopwright.payments.models import Payment, Refund

TOP_PRODUCTS = 5
LOW_STOCK_LIMIT = 10
# revenue_by_day lists every day of a window up to this long (zeros included); a longer one lists the
# days that had sales only.
MAX_FILLED_DAYS = 366


@dataclass(frozen=True)
class Window:
    """Dates `first`..`last`, both inclusive (UTC days); None is open-ended."""

    first: date | None = None
    last: date | None = None

    @property
    def start(self) -> datetime | None:
        return datetime.combine(self.first, time(), UTC) if self.first else None

    @property
    def end(self) -> datetime | None:
        """The first instant after the window (None past the calendar's last day)."""
        if self.last is None or self.last == date.max:
            return None
        return datetime.combine(self.last + timedelta(days=1), time(), UTC)

    def holds(self, column: Any) -> list[ColumnElement[bool]]:
        """Return the conditions that put a timestamp column inside the window."""
        conditions = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions


@dataclass(frozen=True)
class Profit:
    revenue_cents: int
    cost_cents: int
    profit_cents: int
    orders: int


@dataclass(frozen=True)
class ProductSales:
    product_id: int
    name: str
    units: int
    revenue_cents: int
    units_percent: float
    revenue_percent: float


@dataclass(frozen=True)
class CategorySales:
    category_id: int | None
    parent_id: int | None
    name: str | None
    units: int
    revenue_cents: int
    revenue_percent: float


@dataclass(frozen=True)
class DaySales:
    date: date
    revenue_cents: int
    orders: int


@dataclass(frozen=True)
class LowStock:
    variant_id: int
    product_id: int
    sku: str
    product_name: str
    available: int


@dataclass(frozen=True)
class Dashboard:
    revenue_cents: int
    orders_by_status: dict[str, int]
    average_order_value_cents: int
    customers: int
    top_products: list[ProductSales]
    revenue_by_day: list[DaySales]
    low_stock: list[LowStock]


def refunded_per_order() -> Select[int, int]:
    """Succeeded refunds per order (the orders export: money that really went back)."""
    return (
        select(Payment.order_id, func.sum(Refund.amount_cents).label("refunded_cents"))
        .join(Refund, Refund.payment_id == Payment.id)
        .where(Refund.status == "succeeded")
        .group_by(Payment.order_id)
    )


def pieces(window: Window) -> list[tuple[str, date, date]]:
    """Cut a window into runs of rollup periods: (grain, first period, last period), both inclusive.

    Greedy from the first day: a whole year where one starts and fits, else a whole quarter, else a
    whole month, else days up to the month's end. Any window is at most a few dozen rows per product:
    up to 2 runs of days, 2 of months and 2 of quarters around its years.
    """
    first, last = window.first or date.min, window.last or date.max
    runs: list[tuple[str, date, date]] = []
    day = first
    while day <= last:
        if day.month == 1 and day.day == 1 and date(day.year, 12, 31) <= last:
            until = last if last == date(last.year, 12, 31) else date(last.year - 1, 12, 31)
            grain, period = "y", date(until.year, 1, 1)
        elif day.day == 1 and day.month % 3 == 1 and _month_end(day.replace(month=day.month + 2)) <= last:
            grain, period = "q", day
            until = _month_end(day.replace(month=day.month + 2))
        elif day.day == 1 and _month_end(day) <= last:
            grain, period, until = "m", day, _month_end(day)
        else:
            until = min(_month_end(day), last)
            grain, period = "d", until
        if runs and runs[-1][0] == grain and grain != "d":
            runs[-1] = (grain, runs[-1][1], period)
        else:
            runs.append((grain, day, period))
        if until == date.max:
            break
        day = until + timedelta(days=1)
    return runs


def _month_end(day: date) -> date:
    if day.month == 12:
        return date(day.year, 12, 31)
    return date(day.year, day.month + 1, 1) - timedelta(days=1)


def _in_pieces(window: Window) -> ColumnElement[bool]:
    """The condition that picks a window's rows of `sales_products` (each run is a PK range)."""
    return or_(
        false(),  # a window whose first day is after its last has no runs and picks nothing
        *(
            and_(SalesProduct.grain == grain, SalesProduct.period.between(low, high))
            for grain, low, high in pieces(window)
        ),
    )


def _days(window: Window, column: Any) -> list[ColumnElement[bool]]:
    conditions = []
    if window.first is not None:
        conditions.append(column >= window.first)
    if window.last is not None:
        conditions.append(column <= window.last)
    return conditions


def _int(value: Any) -> int:
    """Round a database sum (int, Decimal, float or None) half up to an int."""
    if value is None:
        return 0
    return int(Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _percent(part: int, whole: int) -> float:
    if whole == 0:
        return 0.0
    return float((Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def profit_report(session: Session, window: Window) -> Profit:
    """Return the window's revenue, cost, profit and number of counted orders."""
    row = session.execute(
        select(
            func.coalesce(func.sum(SalesDay.revenue_cents), 0),
            func.coalesce(func.sum(SalesDay.cost_cents), 0),
            func.coalesce(func.sum(SalesDay.orders), 0),
        ).where(*_days(window, SalesDay.day))
    ).one()
    revenue_cents, cost_cents = _int(row[0]), _int(row[1])
    return Profit(revenue_cents, cost_cents, revenue_cents - cost_cents, _int(row[2]))


def _rounded(value: Any) -> ColumnElement[Any]:
    # Rounded by the database, as a float on SQLite (no Decimal there); the sums are whole cents.
    return func.round(value, type_=Numeric(asdecimal=False))


def product_sales(session: Session, window: Window, *, limit: int) -> list[ProductSales]:
    """Return the window's best-selling products (by revenue, then units), with their share of the totals."""
    per_product = (
        select(
            SalesProduct.product_id,
            func.sum(SalesProduct.units).label("units"),
            _rounded(func.sum(SalesProduct.revenue)).label("revenue"),
        )
        .where(_in_pieces(window))
        .group_by(SalesProduct.product_id)
        # A product whose orders all stopped counting keeps rows of zeros.
        .having(func.sum(SalesProduct.units) != 0)
        .subquery("per_product")
    )
    revenue = per_product.c.revenue
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
    per_category = (
        select(
            Product.category_id,
            func.sum(SalesProduct.units).label("units"),
            _rounded(func.sum(SalesProduct.revenue)).label("revenue"),
        )
        .select_from(SalesProduct)
        .join(Product, Product.id == SalesProduct.product_id)
        .where(_in_pieces(window))
        .group_by(Product.category_id)
        .having(func.sum(SalesProduct.units) != 0)
        .subquery("per_category")
    )
    revenue = per_category.c.revenue
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
    rows = session.execute(
        select(SalesDay.day, SalesDay.revenue_cents, SalesDay.orders)
        .where(SalesDay.orders > 0, *_days(window, SalesDay.day))
        .order_by(SalesDay.day)
    ).all()
    found = {row[0]: DaySales(row[0], _int(row[1]), _int(row[2])) for row in rows}
    first = window.first or min(found, default=None)
    last = window.last or max(found, default=None)
    if first is None or last is None or (last - first).days >= MAX_FILLED_DAYS:
        return list(found.values())
    every_day = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [found.get(d) or DaySales(d, 0, 0) for d in every_day]


def orders_by_status(session: Session, window: Window) -> dict[str, int]:
    """Count the orders placed in the window (by `created_at`) per status, every status listed."""
    # Pending orders (few: unpaid ones are cancelled after a while) from the orders' partial index, the
    # others from the rollup. The literal lets the planner match the partial index's predicate.
    pending: ColumnElement[str] = literal_column("'pending'")
    rows = session.execute(
        union_all(
            select(OrderStatusDay.status, func.sum(OrderStatusDay.orders))
            .where(*_days(window, OrderStatusDay.day))
            .group_by(OrderStatusDay.status),
            select(pending, func.count()).where(Order.status == pending, *window.holds(Order.created_at)),
        )
    ).all()
    counts = dict.fromkeys(("pending", "paid", "shipped", "delivered", "cancelled", "refunded"), 0)
    counts.update({status: _int(count) for status, count in rows})
    return counts


def customers(session: Session, window: Window) -> int:
    """Count the distinct customers with at least one counted order in the window."""
    # Whole months, quarters and years from sales_customers (one row per customer and period with
    # orders; read from its primary key alone), the window's loose days from sales_orders; UNION removes
    # the customers found in both.
    runs = pieces(window)
    parts: list[Select[Any]] = []
    periods = [run for run in runs if run[0] != "d"]
    if periods:
        parts.append(
            select(SalesCustomer.user_id).where(
                or_(
                    *(
                        and_(SalesCustomer.grain == grain, SalesCustomer.period.between(low, high))
                        for grain, low, high in periods
                    )
                ),
            )
        )
    for _, low, high in (run for run in runs if run[0] == "d"):
        parts.append(
            select(SalesOrder.user_id).where(
                SalesOrder.paid_day.is_not(None), SalesOrder.paid_day.between(low, high)
            )
        )
    if not parts:  # a window whose first day is after its last
        return 0
    found = union(*parts).subquery() if len(parts) > 1 else parts[0].distinct().subquery()
    return int(session.scalar(select(func.count()).select_from(found)) or 0)


def low_stock(session: Session, *, threshold: int, limit: int) -> list[LowStock]:
    """Return the variants of live products with at most `threshold` units available, fewest first."""
    available = StockLevel.quantity - StockLevel.reserved
    rows = session.execute(
        select(StockLevel.variant_id, Variant.product_id, Variant.sku, Product.name, available)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(available <= threshold, and_(Product.deleted_at.is_(None), Variant.is_active))
        .order_by(available, StockLevel.variant_id)
        .limit(limit)
    ).all()
    return [LowStock(*row) for row in rows]
