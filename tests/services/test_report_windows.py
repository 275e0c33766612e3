"""Report windows through the reports service, inside a rolled-back transaction."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from shopwright.reports import service as reports


def test_a_window_whose_first_day_is_after_its_last_reports_nothing(db_session: Session) -> None:
    # The HTTP query refuses such a window (422); a direct caller (the CLI, a task) gets empty figures.
    inverted = reports.Window(date(2026, 3, 2), date(2026, 3, 1))
    figures = reports.dashboard(db_session, inverted, low_stock_threshold=5)
    assert figures.revenue_cents == 0
    assert figures.customers == 0
    assert figures.top_products == []
    assert figures.revenue_by_day == []
    assert set(figures.orders_by_status.values()) == {0}
    assert reports.category_sales(db_session, inverted) == []
    assert reports.profit_report(db_session, inverted).orders == 0
