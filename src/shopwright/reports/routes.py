"""HTTP routes of the back-office reports under /api/admin (role admin): profit, sales, dashboard, export."""

from __future__ import annotations

from flask import Response
from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required
from shopwright.db import get_read_session
from shopwright.openapi import text_answer
from shopwright.reports import export, service
from shopwright.reports.schemas import (
    CategorySalesList,
    DashboardOut,
    DashboardQuery,
    ProductSalesList,
    ProductSalesQuery,
    ProfitOut,
    WindowQuery,
)
from shopwright.web import Result, read_sessions, respond

bp = APIBlueprint(
    "reports",
    __name__,
    url_prefix="/api/admin",
    abp_tags=[Tag(name="Reports", description="Sales, profit and the dashboard (docs/backoffice.md)")],
    abp_security=BEARER,
)


def _window(query: WindowQuery) -> service.Window:
    return service.Window(query.from_, query.to)


@bp.get(
    "/reports/profit",
    summary="Revenue, cost and profit of the orders paid in a window",
    operation_id="adminProfitReport",
    responses={200: ProfitOut},
)
@admin_required
def profit(query: WindowQuery) -> Result:
    return respond(ProfitOut, service.profit_report(get_read_session(), _window(query)))


@bp.get(
    "/reports/product-sales",
    summary="Units and revenue per product in a window, best first, with their shares",
    operation_id="adminProductSalesReport",
    responses={200: ProductSalesList},
)
@admin_required
def product_sales(query: ProductSalesQuery) -> Result:
    items = service.product_sales(get_read_session(), _window(query), limit=query.limit)
    return respond(ProductSalesList, {"items": items})


@bp.get(
    "/reports/category-sales",
    summary="Units and revenue per category in a window (a product counts under its own category)",
    operation_id="adminCategorySalesReport",
    responses={200: CategorySalesList},
)
@admin_required
def category_sales(query: WindowQuery) -> Result:
    return respond(CategorySalesList, {"items": service.category_sales(get_read_session(), _window(query))})


@bp.get(
    "/dashboard",
    summary="Revenue, orders by status, top products, revenue by day and low stock for a window",
    operation_id="adminDashboard",
    responses={200: DashboardOut},
)
@admin_required
def dashboard(query: DashboardQuery) -> Result:
    figures = service.dashboard(
        get_read_session(), _window(query), low_stock_threshold=query.low_stock_threshold
    )
    return respond(DashboardOut, figures)


@bp.get(
    "/orders/export",
    summary="The orders paid in a window and their lines, as CSV for accounting",
    operation_id="adminExportOrders",
    responses={200: text_answer("text/csv", "One row per order line, order columns repeated")},
)
@admin_required
def export_orders(query: WindowQuery) -> Result:
    rows = export.export_orders(read_sessions(), _window(query))
    name = f"orders-{query.from_ or 'start'}-{query.to or 'now'}.csv"
    return Response(
        rows,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
