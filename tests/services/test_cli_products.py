"""flask import-products FILE and flask export-products [FILE]: the import's and export's rules."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from tests.factories.catalog import Shop, counts
from tests.factories.imports import csv_file, exported


def test_import_then_export_through_the_cli(
    app: Flask, shop: Shop, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "products.csv"
    source.write_bytes(csv_file([["sku", "name", "price", "category"], ["CLI-1", "Chisel", "4.50", "Tools"]]))
    runner = app.test_cli_runner()

    result = runner.invoke(args=["import-products", str(source)])

    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("1 created, 0 updated, 0 unchanged, 1 categories created")
    target = tmp_path / "export.csv"
    assert runner.invoke(args=["export-products", str(target)]).exit_code == 0
    assert target.read_bytes() == exported(shop)
    to_stdout = runner.invoke(args=["export-products"])
    assert to_stdout.output.lstrip("\ufeff").startswith("sku,name,description,category")
    again = runner.invoke(args=["import-products", str(target)])
    assert again.output.strip().endswith("0 created, 0 updated, 1 unchanged, 0 categories created")


def test_an_invalid_file_lists_its_errors_and_writes_nothing(
    app: Flask, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(csv_file([["sku", "name", "price_cents"], ["OK-1", "Fine", "1"], ["BAD-1", "", "x"]]))

    result = app.test_cli_runner().invoke(args=["import-products", str(source)])

    assert result.exit_code == 1
    assert "row 3, price_cents: a whole number" in result.output
    assert "nothing was imported" in result.output
    assert counts(sessions)["products"] == 0


def test_the_cli_applies_the_row_limit_too(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    source = tmp_path / "many.csv"
    source.write_bytes(
        csv_file([["sku", "name", "price_cents"], *[[f"M-{n}", "Mop", "1"] for n in range(3)]])
    )

    result = make_app(IMPORT_MAX_ROWS=2).test_cli_runner().invoke(args=["import-products", str(source)])

    assert result.exit_code == 1
    assert "more than 2 product rows" in result.output
    assert counts(sessions)["products"] == 0
