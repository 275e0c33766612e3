"""The product file format: a CSV or XLSX file read into checked rows (no database), and the cell codec the
export shares. The rules are in docs/backoffice-import.md.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first product row 2 (a CSV record
spanning several lines is one row). Every problem of every row is collected before anything is written,
so a file is refused whole, with all its errors at once (up to MAX_ERRORS).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook

from shopwright.catalog.errors import ImportTooLarge, InvalidImport, UnsupportedImportFile
from shopwright.catalog.schemas import MAX_CENTS, MAX_STOCK
from shopwright.config import Settings

# The columns of a product file; `price` (a decimal like 19.99) is another way to give `price_cents`.
COLUMNS = (
    "sku",
    "name",
    "description",
    "category",
    "price_cents",
    "cost_cents",
    "stock_quantity",
    "is_active",
)
READ_COLUMNS = (*COLUMNS, "price")
MAX_ERRORS = 1000
CATEGORY_SEPARATOR = ">"
MAX_CATEGORY_DEPTH = 10
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_LENGTHS = {"name": 200, "description": 20000}
_XLSX_MAGIC = b"PK\x03\x04"  # a ZIP archive, which an XLSX file is
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"  # an archive without entries: still a ZIP, never a workbook

# What an XLSX may expand to (a ZIP bomb is a small upload that inflates to gigabytes). The defaults of
# the settings IMPORT_MAX_UNCOMPRESSED_BYTES and IMPORT_MAX_ROWS (config.py; docs/backoffice-import.md).
MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_ZIP_ENTRIES = 1_000  # a workbook has a few dozen parts; a spreadsheet app never writes thousands
MAX_ZIP_RATIO = 200  # XML of a real sheet compresses 10-30 times; bombs a thousand times and more
_RATIO_FLOOR = 1024 * 1024  # small parts may compress as well as they like
_WORKBOOK_PARTS = ("[Content_Types].xml", "xl/workbook.xml")

# A spreadsheet runs a cell starting with one of these as a formula (CSV injection); the export prefixes
# such cells with an apostrophe, and so a cell starting with an apostrophe too, so that reading takes
# exactly one apostrophe off and every value comes back as it was.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def protect(cell: str) -> str:
    """Return a text cell safe to open in a spreadsheet (`=1+1` → `'=1+1`); `unprotect` reverses it."""
    return f"'{cell}" if cell.startswith(_FORMULA_STARTS) else cell


def unprotect(cell: str) -> str:
    """Return the value of a cell written by `protect` (an apostrophe before a formula start is dropped)."""
    return cell[1:] if cell.startswith("'") and cell[1:2].startswith(_FORMULA_STARTS) else cell


@dataclass(slots=True)
class ImportRow:
    """One product row of a file: `None` means the column was not given (or the cell was empty)."""

    row: int
    sku: str  # upper-cased, as variants store it
    name: str | None = None
    description: str | None = None
    category: tuple[str, ...] | None = None
    price_cents: int | None = None
    cost_cents: int | None = None
    stock_quantity: int | None = None
    is_active: bool | None = None


@dataclass
class Problems:
    """The errors of a file, `{row, field, message}` each, up to MAX_ERRORS (then `truncated`)."""

    items: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def add(self, row: int, column: str, message: str) -> None:
        if len(self.items) >= MAX_ERRORS:
            self.truncated = True
            return
        self.items.append({"row": row, "field": column, "message": message})

    def raise_if_any(self) -> None:
        if self.items:
            raise invalid_import(self)


def invalid_import(problems: Problems) -> InvalidImport:
    """Return the 422 for a file with these problems (nothing of it was written)."""
    count = f"{len(problems.items)}{'+' if problems.truncated else ''}"
    return InvalidImport(
        f"{count} problem(s) in the file; nothing was imported",
        errors=problems.items,
        errors_truncated=problems.truncated,
    )


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of a file the import reads: what an XLSX may expand to, and how many rows a file holds."""

    max_uncompressed_bytes: int = MAX_UNCOMPRESSED_BYTES
    max_rows: int = MAX_ROWS

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        """Return the limits the settings set (IMPORT_MAX_UNCOMPRESSED_BYTES, IMPORT_MAX_ROWS)."""
        return cls(settings.IMPORT_MAX_UNCOMPRESSED_BYTES, settings.IMPORT_MAX_ROWS)


def read_rows(data: bytes, limits: Limits | None = None) -> list[ImportRow]:
    """Return the checked rows of a CSV or XLSX file.

    Raise UnsupportedImportFile (415), ImportTooLarge (413: an archive expanding past the limit, or more
    rows than the limit) or InvalidImport (422).
    """
    limits = limits or Limits()
    xlsx = data.startswith((_XLSX_MAGIC, _EMPTY_ZIP_MAGIC))
    table = _xlsx_table(data, limits) if xlsx else _csv_table(data, limits)
    problems = Problems()
    header = _header(table, problems)
    # A UTF-8 text holds NUL only where its bytes do; a workbook's cells are searched (its bytes are zipped).
    has_nul = any("\x00" in c for _, r in table for c in r) if xlsx else b"\x00" in data
    reader = _RowReader(header, problems, has_nul=has_nul)
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    width = len(header)
    for number, cells in table[1:]:
        if len(cells) > width and "".join(cells[width:]).strip():
            problems.add(number, "", f"{len(cells)} cells, but the header has {width} columns")
            continue
        if not "".join(cells).strip():
            continue  # a blank row, as spreadsheets often end with
        row = reader.read(number, cells)
        if row is None:
            continue
        if row.sku in seen:
            problems.add(number, "sku", f"SKU {row.sku} is already on row {seen[row.sku]}")
        seen.setdefault(row.sku, number)
        rows.append(row)
    if not rows and not problems.items:
        problems.add(2, "", "the file has a header but no product rows")
    problems.raise_if_any()
    return rows


Table = list[tuple[int, list[str]]]


def _too_many_rows(limits: Limits) -> ImportTooLarge:
    return ImportTooLarge(
        f"The file has more than {limits.max_rows} product rows (IMPORT_MAX_ROWS); split it",
        max_rows=limits.max_rows,
    )


def _csv_table(data: bytes, limits: Limits) -> Table:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnsupportedImportFile(
            "The file is neither an XLSX workbook nor a UTF-8 CSV file; save it as one of those"
        ) from error
    first_line = text.split("\n", 1)[0]
    # Spreadsheets in some locales save CSV with semicolons (or tabs): the header line tells which.
    delimiter = max((",", ";", "\t"), key=first_line.count) if first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    table: Table = []
    try:
        for number, cells in enumerate(reader, start=1):
            if number > limits.max_rows + 1:  # the header, then at most max_rows rows
                raise _too_many_rows(limits)
            table.append((number, cells))
    except csv.Error as error:
        problems = Problems()
        problems.add(len(table) + 1, "", f"not valid CSV: {error}")
        raise invalid_import(problems) from error
    return table


def _xlsx_table(data: bytes, limits: Limits) -> Table:
    check_archive(data, limits)
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        with workbook:
            sheet = workbook.get_sheet_by_index(0)
            if sheet.height > limits.max_rows + 1:
                raise _too_many_rows(limits)
            cells = sheet.to_python(skip_empty_area=False)
    except (CalamineError, ValueError, OSError) as error:
        raise UnsupportedImportFile(
            f"The file looks like an archive but is not a readable XLSX workbook ({error})"
        ) from error
    return [(number, [_cell_text(cell) for cell in row]) for number, row in enumerate(cells, start=1)]


def check_archive(data: bytes, limits: Limits) -> None:
    """Refuse an archive that is no workbook (415) or would expand past the limits (413), before parsing.

    The central directory is checked first (entry count, the declared sizes and each entry's ratio);
    then every entry is inflated once into nothing, counting bytes: a declared size can lie, and an
    entry inflating past what it declares fails its length or CRC check here, never in the parser.
    """
    too_large = ImportTooLarge(
        "The workbook expands to more than the import reads "
        f"(IMPORT_MAX_UNCOMPRESSED_BYTES, {limits.max_uncompressed_bytes} bytes)",
        max_uncompressed_bytes=limits.max_uncompressed_bytes,
    )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
            if not all(part in names for part in _WORKBOOK_PARTS):
                raise UnsupportedImportFile(
                    "The file is a ZIP archive but not an XLSX workbook (no xl/workbook.xml)"
                )
            if len(entries) > MAX_ZIP_ENTRIES:
                raise ImportTooLarge(f"The workbook has {len(entries)} parts; at most {MAX_ZIP_ENTRIES}")
            if sum(entry.file_size for entry in entries) > limits.max_uncompressed_bytes:
                raise too_large
            for entry in entries:
                if entry.file_size > _RATIO_FLOOR and entry.file_size > MAX_ZIP_RATIO * max(
                    entry.compress_size, 1
                ):
                    raise ImportTooLarge(
                        f"A part of the workbook ({entry.filename}) expands more than {MAX_ZIP_RATIO} "
                        "times: refused as a possible ZIP bomb"
                    )
            inflated = 0
            for entry in entries:
                with archive.open(entry) as part:
                    while chunk := part.read(1024 * 1024):
                        inflated += len(chunk)
                        if inflated > limits.max_uncompressed_bytes:
                            raise too_large
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OSError,
        EOFError,
    ) as error:
        # NotImplementedError: a compression method zipfile lacks; RuntimeError: an encrypted part
        raise UnsupportedImportFile(
            f"The file looks like an archive but is not a readable XLSX workbook ({error})"
        ) from error


def _cell_text(cell: Any) -> str:
    """Return a spreadsheet cell as the text a CSV file would hold (numbers without float noise)."""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else format(cell, ".15g")
    if isinstance(cell, datetime | date | time | timedelta):
        return cell.isoformat() if not isinstance(cell, timedelta) else str(cell)
    return str(cell)


def _header(table: Table, problems: Problems) -> list[str]:
    if not table:
        problems.add(1, "sku", "the file is empty: the header row (sku, name, …) is missing")
        problems.raise_if_any()
    header = [cell.strip().lower() for cell in table[0][1]]
    for index, name in enumerate(header):
        if not name:
            if any(index < len(cells) and cells[index].strip() for _, cells in table[1:]):
                problems.add(1, f"column {index + 1}", "a column with values needs a name")
        elif name not in READ_COLUMNS:
            problems.add(1, name, f"unknown column; the columns are {', '.join(READ_COLUMNS)}")
        elif header.index(name) != index:
            problems.add(1, name, "the column appears twice")
    if "sku" not in header:
        problems.add(1, "sku", "the sku column is required")
    if "price" in header and "price_cents" in header:
        problems.add(1, "price", "give either price or price_cents, not both")
    problems.raise_if_any()
    return header


class _RowReader:
    """Reads the cells of one row into an ImportRow, adding its problems ."""

    def __init__(self, header: list[str], problems: Problems, *, has_nul: bool) -> None:
        columns = {name: index for index, name in enumerate(header) if name}
        self.fields = tuple(columns.get(name, -1) for name in READ_COLUMNS)
        self.width = len(header)
        self.problems = problems
        self.has_nul = has_nul  # NUL bytes are rare: rows are searched for them only when the file has one
        self.categories: dict[str, tuple[str, ...] | bool | None] = {}  # a file names few paths

    def read(self, number: int, cells: list[str]) -> ImportRow | None:
        problems = self.problems
        before = len(problems.items)
        if len(cells) < self.width:
            cells = cells + [""] * (self.width - len(cells))
        values = [cells[index] if index >= 0 else "" for index in self.fields]
        if self.has_nul or "'" in "".join(values):  # most rows have neither: one search, no loop
            for at, value in enumerate(values):
                if value[:1] == "'" and value[1:2].startswith(_FORMULA_STARTS):
                    values[at] = value[1:]
                if self.has_nul and "\x00" in value:
                    problems.add(number, READ_COLUMNS[at], "must not contain NUL bytes")
            if len(problems.items) > before:
                return None
        sku, name, description, category, price_cents, cost, stock, active, price = values
        sku = sku.strip()
        if not _SKU.fullmatch(sku):
            problems.add(number, "sku", "required" if not sku else _SKU_RULE)
        row = ImportRow(row=number, sku=sku.upper(), name=name or None, description=description or None)
        for column, value in (("name", name), ("description", description)):
            if len(value) > _LENGTHS[column]:
                problems.add(number, column, f"at most {_LENGTHS[column]} characters")
        row.category = self._category(number, category) if category else None
        amount = _cents(price) if price else None
        if amount is False:
            problems.add(
                number, "price", f"an amount like 19.99 (at most 2 decimals, up to {MAX_CENTS // 100})"
            )
        elif amount is not None:
            row.price_cents = amount
        else:
            row.price_cents = self._whole(number, "price_cents", price_cents, MAX_CENTS)
        row.cost_cents = self._whole(number, "cost_cents", cost, MAX_CENTS)
        row.stock_quantity = self._whole(number, "stock_quantity", stock, MAX_STOCK)
        active = active.strip().lower()
        if active in _TRUE or active in _FALSE:
            row.is_active = active in _TRUE
        elif active:
            problems.add(number, "is_active", "true or false (also 1/0, yes/no)")
        return row if len(problems.items) == before else None

    def _whole(self, number: int, name: str, value: str, top: int) -> int | None:
        value = value.strip()
        if not value:
            return None
        if not (value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= top):
            self.problems.add(number, name, f"a whole number from 0 to {top}")
            return None
        return int(value)

    def _category(self, number: int, value: str) -> tuple[str, ...] | None:
        path = self.categories.get(value)
        if path is None and value not in self.categories:
            path = self.categories[value] = _category_path(value)
        if path is False:
            self.problems.add(
                number,
                "category",
                f"a path like Garden > Tools: up to {MAX_CATEGORY_DEPTH} names of 1-100 characters",
            )
            return None
        return path if isinstance(path, tuple) else None


_SKU_RULE = "1-64 letters, digits, dots, dashes or underscores (a letter or digit first)"


def _category_path(value: str) -> tuple[str, ...] | bool | None:
    """Return the path of a category cell, None for none, False for an invalid one."""
    if not value.strip():
        return None
    path = tuple(part.strip() for part in value.split(CATEGORY_SEPARATOR))
    if any(not part or len(part) > 100 for part in path) or len(path) > MAX_CATEGORY_DEPTH:
        return False
    return path


def _cents(value: str) -> int | bool | None:
    """Return a decimal amount (`19.99`) in cents, None for an empty cell, False for an invalid one."""
    value = value.strip()
    if not value:
        return None
    whole, _, fraction = value.partition(".")
    if not (
        whole.isascii()
        and whole.isdigit()
        and len(whole) <= 17
        and (
            (not fraction and "." not in value)
            or (fraction.isascii() and fraction.isdigit() and len(fraction) <= 2)
        )
    ):
        return False
    cents = int(whole) * 100 + int(fraction.ljust(2, "0") or 0)
    return cents if cents <= MAX_CENTS else False


def category_paths(rows: Iterable[ImportRow]) -> list[tuple[str, ...]]:
    """Return the distinct category paths the rows name (the first spelling of each), parents first."""
    paths: dict[tuple[str, ...], tuple[str, ...]] = {}
    for row in rows:
        for depth in range(1, len(row.category or ()) + 1):
            path = row.category[:depth] if row.category else ()
            paths.setdefault(path_key(path), path)
    return sorted(paths.values(), key=len)  # stable: file order within a depth


def path_key(path: Sequence[str]) -> tuple[str, ...]:
    """Return the key a category path is matched by: sibling names are unique regardless of case."""
    return tuple(part.lower() for part in path)


def csv_lines(rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """Yield CSV text, the header first, then each row, its text cells protected (see `protect`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([protect(cell) if isinstance(cell, str) else cell for cell in row])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
