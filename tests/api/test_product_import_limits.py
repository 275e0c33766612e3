"""The import's guards against hostile files: ZIP bombs, archives that are no workbook, row and cell limits.

An XLSX file is a ZIP archive: a small upload may inflate to gigabytes. The archive is checked before the
parser sees it (docs/backoffice-import.md#limits): its parts' declared sizes and ratios, then their real
sizes, against IMPORT_MAX_UNCOMPRESSED_BYTES; a file holds at most IMPORT_MAX_ROWS rows. Every refusal is
problem+json and writes nothing.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import admin, assert_problem
from tests.factories.catalog import Shop, counts
from tests.factories.imports import csv_file, imported, upload, xlsx_file

WORKBOOK_PARTS = {
    "[Content_Types].xml": b'<?xml version="1.0"?><Types/>',
    "xl/workbook.xml": b'<?xml version="1.0"?><workbook/>',
}


def _archive(parts: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _shop(make_app: Callable[..., Flask], **settings: object) -> Shop:
    app = make_app(**settings)
    return Shop(app, app.test_client(), admin(app, app.test_client()))


def test_a_zip_bomb_is_413_before_it_is_parsed(shop: Shop, sessions: sessionmaker[Session]) -> None:
    # 16 MiB of one byte deflates to about 16 KiB: a thousand times, where real sheets compress 10-30
    bomb = _archive({**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": b"0" * (16 * 1024 * 1024)})
    assert len(bomb) < 100_000

    body = assert_problem(upload(shop, bomb, "products.xlsx"), 413, "import_too_large")

    assert "ZIP bomb" in body["detail"]
    assert counts(sessions)["products"] == 0


def test_a_workbook_larger_than_the_limit_uncompressed_is_413(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    shop = _shop(make_app, IMPORT_MAX_UNCOMPRESSED_BYTES=1024 * 1024)
    # Random letters of four kinds compress about four times: no ratio to catch, only the total (and the
    # upload stays small enough for the test client to keep it in memory).
    noise = bytes(b"ACGT"[byte % 4] for byte in os.urandom(1200 * 1024))
    content = _archive({**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": noise})

    body = assert_problem(upload(shop, content, "products.xlsx"), 413, "import_too_large")

    assert body["max_uncompressed_bytes"] == 1024 * 1024
    assert counts(sessions)["products"] == 0


def test_an_archive_that_lies_about_its_sizes_is_refused(shop: Shop, sessions: sessionmaker[Session]) -> None:
    # The central directory and the local header claim 1 KiB for a part that inflates to 4 MiB: the
    # declared sizes pass, the inflating does not (the part is cut at its declared size, its CRC fails).
    name = b"xl/worksheets/sheet1.xml"
    content = bytearray(_archive({**WORKBOOK_PARTS, name.decode(): b"<x/>" * (1024 * 1024)}))
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = content.find(signature, 0)
        while at != -1:
            name_length = struct.unpack_from("<H", content, at + (26 if signature == b"PK\x03\x04" else 28))[
                0
            ]
            start = at + (30 if signature == b"PK\x03\x04" else 46)
            if content[start : start + name_length] == name:
                struct.pack_into("<I", content, at + size_at, 1024)
            at = content.find(signature, at + 4)

    body = assert_problem(upload(shop, bytes(content), "products.xlsx"), 415, "unsupported_import_file")

    assert "CRC" in body["detail"]
    assert counts(sessions)["products"] == 0


def test_an_archive_with_too_many_parts_is_413(shop: Shop, sessions: sessionmaker[Session]) -> None:
    parts = {**WORKBOOK_PARTS, **{f"xl/media/image{n}.bin": b"x" for n in range(1001)}}

    assert_problem(upload(shop, _archive(parts), "products.xlsx"), 413, "import_too_large")
    assert counts(sessions)["products"] == 0


def test_archives_that_are_no_workbook_are_415(shop: Shop, sessions: sessionmaker[Session]) -> None:
    real = xlsx_file([["sku", "name", "price_cents"], ["A-1", "Axe", 100]])
    for content in (
        _archive({"hello.txt": b"not a workbook"}),  # a ZIP without the workbook's parts
        _archive({**WORKBOOK_PARTS, "xl/worksheets/sheet1.xml": b"<not-a-sheet"}),  # parts, but broken
        real[: len(real) // 2],  # a workbook cut short (no central directory)
        b"PK\x05\x06" + b"\x00" * 18,  # an empty archive
        b"PK\x03\x04" + os.urandom(200),  # the magic, then noise
    ):
        assert_problem(upload(shop, content, "products.xlsx"), 415, "unsupported_import_file")
    assert counts(sessions)["products"] == 0


def test_the_content_decides_not_the_file_name(shop: Shop, sessions: sessionmaker[Session]) -> None:
    # Binary bytes named .xlsx: no ZIP, no UTF-8 text.
    assert_problem(
        upload(shop, b"\x89PNG\r\n\x1a\n\x00\xff", "products.xlsx"), 415, "unsupported_import_file"
    )
    # A CSV file named .xlsx is read as the CSV it is; a workbook named .csv as the workbook.
    assert (
        imported(shop, csv_file([["sku", "name", "price_cents"], ["C-1", "Cup", "100"]]), "p.xlsx")["created"]
        == 1
    )
    workbook = xlsx_file([["sku", "name", "price_cents"], ["C-2", "Can", 100]])
    assert imported(shop, workbook, "p.csv")["created"] == 1
    assert counts(sessions)["products"] == 2


def test_a_file_holds_at_most_import_max_rows(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    shop = _shop(make_app, IMPORT_MAX_ROWS=5)
    rows: list[list[Any]] = [
        ["sku", "name", "price_cents"],
        *[[f"R-{n}", f"Rake {n}", 100] for n in range(6)],
    ]

    for content, name in ((csv_file(rows), "p.csv"), (xlsx_file(rows), "p.xlsx")):
        body = assert_problem(upload(shop, content, name), 413, "import_too_large")
        assert body["max_rows"] == 5
    assert counts(sessions)["products"] == 0
    assert imported(shop, csv_file(rows[:6]))["created"] == 5


def test_huge_cells_are_422_with_their_row(shop: Shop, sessions: sessionmaker[Session]) -> None:
    header = ["sku", "name", "description", "price_cents"]
    long_name = [header, ["H-1", "n" * 201, "", "1"], ["H-2", "ok", "d" * 20_001, "1"]]
    errors = assert_problem(upload(shop, csv_file(long_name)), 422, "invalid_import")["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "name"), (3, "description")]
    # Beyond what the CSV reader takes in one cell (128 KiB): the file is refused at that row.
    giant = csv_file([header, ["H-1", "ok", "", "1"], ["H-2", "ok", "d" * 200_000, "1"]])
    errors = assert_problem(upload(shop, giant), 422, "invalid_import")["errors"]
    assert [e["row"] for e in errors] == [3]
    assert counts(sessions)["products"] == 0


def test_nul_bytes_are_422_in_csv_and_xlsx(shop: Shop, sessions: sessionmaker[Session]) -> None:
    content = csv_file([["sku", "name", "price_cents"], ["N-1", "Na\x00il", "100"]])
    errors = assert_problem(upload(shop, content), 422, "invalid_import")["errors"]
    assert [(e["row"], e["field"]) for e in errors] == [(2, "name")]
    assert counts(sessions)["products"] == 0


def test_xlsx_formulas_are_never_run_nor_stored(shop: Shop, sessions: sessionmaker[Session]) -> None:
    # A formula cell is read as the value the spreadsheet saved with it (none here), never as its text.
    content = xlsx_file([["sku", "name", "price_cents"], ["F-1", "=CMD|' /C calc'!A0", 100]])

    errors = assert_problem(upload(shop, content, "p.xlsx"), 422, "invalid_import")["errors"]

    assert [(e["row"], e["field"]) for e in errors] == [(2, "name")]
    assert counts(sessions)["products"] == 0
