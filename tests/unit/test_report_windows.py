"""A report window cut into rollup periods (reports.service.pieces) covers exactly its days, once each."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from shopwright.orders.rollup import periods
from shopwright.reports.service import Window, pieces


def _days(grain: str, start: date) -> list[date]:
    days, day = [], start
    while periods(day)[grain] == start:
        days.append(day)
        day += timedelta(days=1)
    return days


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), st.integers(0, 1_200))
def test_the_pieces_of_a_window_cover_its_days_exactly_once(first: date, length: int) -> None:
    last = first + timedelta(days=length)
    covered: list[date] = []
    for grain, low, high in pieces(Window(first, last)):
        day = low
        while day <= high:
            if periods(day)[grain] == day:
                covered += _days(grain, day)
            day += timedelta(days=1)
    assert covered == [first + timedelta(days=n) for n in range(length + 1)]


def test_long_windows_read_years_quarters_and_months() -> None:
    assert pieces(Window()) == [("y", date.min, date(9999, 1, 1))]
    assert pieces(Window(date(2025, 12, 1), date(2026, 11, 30))) == [
        ("m", date(2025, 12, 1), date(2025, 12, 1)),
        ("q", date(2026, 1, 1), date(2026, 7, 1)),
        ("m", date(2026, 10, 1), date(2026, 11, 1)),
    ]
    assert pieces(Window(None, date(2026, 2, 10))) == [
        ("y", date.min, date(2025, 1, 1)),
        ("m", date(2026, 1, 1), date(2026, 1, 1)),
        ("d", date(2026, 2, 1), date(2026, 2, 10)),
    ]
