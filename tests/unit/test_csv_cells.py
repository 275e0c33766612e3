"""CSV exports defuse spreadsheet formulas (CSV injection) and write timestamps in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shopwright.reports.export import safe_cell


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"])
def test_text_that_a_spreadsheet_would_run_gets_an_apostrophe(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Pen", "a=b", "", 0, -5, 1500])
def test_other_cells_pass_as_they_are(value: object) -> None:
    assert safe_cell(value) == value


def test_none_is_empty_and_timestamps_are_utc() -> None:
    assert safe_cell(None) == ""
    berlin = datetime(2026, 3, 1, 1, 30, tzinfo=timezone(timedelta(hours=1)))
    assert safe_cell(berlin) == "2026-03-01T00:30:00Z"
    assert safe_cell(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00Z"
