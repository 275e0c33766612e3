"""Helpers for the product import and export: files made in memory, uploads through the real API."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from tests.factories.catalog import Shop

IMPORT = "/api/admin/products/import"
EXPORT = "/api/admin/products/export"


def csv_file(rows: Sequence[Sequence[Any]], *, delimiter: str = ",", bom: bool = False) -> bytes:
    """Return CSV bytes (UTF-8) of these rows, the header included."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" if bom else "").encode() + buffer.getvalue().encode()


def xlsx_file(rows: Sequence[Sequence[Any]]) -> bytes:
    """Return an XLSX workbook whose first sheet holds these rows (numbers stay numbers)."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    workbook.create_sheet("Ignored").append(["sku"])  # only the first sheet is read
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(shop: Shop, content: bytes, filename: str = "products.csv", headers: Any = None) -> Any:
    """POST a file to the import as a multipart form (field `file`)."""
    return shop.client.post(
        IMPORT,
        data={"file": (io.BytesIO(content), filename)},
        headers=shop.headers if headers is None else headers,
        content_type="multipart/form-data",
    )


def imported(shop: Shop, content: bytes, filename: str = "products.csv") -> dict[str, int]:
    """Import a file that must succeed; return the counts."""
    response = upload(shop, content, filename)
    assert response.status_code == 200, response.json
    body: dict[str, int] = response.json
    return body


def exported(shop: Shop) -> bytes:
    response = shop.client.get(EXPORT, headers=shop.headers)
    assert response.status_code == 200, response.json
    assert response.mimetype == "text/csv"
    return bytes(response.data)


def export_table(shop: Shop) -> list[list[str]]:
    """Return the export as rows of cells (BOM removed), the header first."""
    return list(csv.reader(io.StringIO(exported(shop).decode("utf-8-sig"), newline="")))
