"""HTTP routes of the back office's stock and bulk data (role admin): the stock history, and the product
import and export (docs/backoffice-import.md)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, current_app
from flask_openapi import APIBlueprint, FileStorage, Tag
from pydantic import ConfigDict, Field, field_validator
from werkzeug.datastructures import FileStorage as UploadedFile

from shopwright.accounts.auth import BEARER, admin_required, current_user_id
from shopwright.catalog.importing import Limits, csv_lines
from shopwright.db import get_session, get_settings
from shopwright.inventory import exporting, importing, movements
from shopwright.inventory.schemas import ImportResultOut, MovementOut, StockPath
from shopwright.limits import body_limit
from shopwright.openapi import text_answer
from shopwright.schemas import InputModel, LimitQuery, Page
from shopwright.web import Result, respond

bp = APIBlueprint(
    "inventory", __name__, url_prefix="/api/admin", abp_tags=[Tag(name="Admin")], abp_security=BEARER
)


@bp.get(
    "/inventory/<int:variant_id>/movements",
    summary="List a variant's stock movements (who, when, delta, reason), newest first",
    operation_id="adminListStockMovements",
    responses={200: Page[MovementOut]},
)
@admin_required
def list_movements(path: StockPath, query: LimitQuery) -> Result:
    page = movements.list_movements(get_session(), path.variant_id, limit=query.limit, cursor=query.cursor)
    return respond(Page[MovementOut], page)


class ImportForm(InputModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    file: FileStorage = Field(description="A CSV (UTF-8, header row) or XLSX file (its first sheet)")

    @field_validator("file", mode="before")
    @classmethod
    def _uploaded(cls, value: object) -> object:
        # A plain form field named `file` would reach here as text: only an uploaded file will do.
        if not isinstance(value, UploadedFile):
            raise ValueError("upload the file as a multipart file part named 'file'")
        return value


@bp.post(
    "/products/import",
    summary="Create or update products by SKU from a CSV or XLSX file, all or nothing",
    operation_id="adminImportProducts",
    responses={200: ImportResultOut},
)
@body_limit("IMPORT_MAX_BYTES")
@admin_required
def import_products(form: ImportForm) -> Result:
    limits = Limits.of(get_settings())
    result = importing.import_products(
        get_session(), form.file.read(), actor_id=current_user_id(), limits=limits
    )
    return respond(ImportResultOut, result)


@bp.get(
    "/products/export",
    summary="Download every product variant as CSV, in the columns the import reads",
    operation_id="adminExportProducts",
    responses={200: text_answer("text/csv", "The products, one row per variant (UTF-8 with a BOM)")},
)
@admin_required
def export_products() -> Response:
    lines = csv_lines(exporting.export_rows(current_app.extensions["shopwright.sessions"]))
    return Response(
        _with_bom(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="products.csv"'},
    )


def _with_bom(lines: Iterator[str]) -> Iterator[str]:
    yield "\ufeff"  # spreadsheets then read the file as UTF-8; the import skips it
    yield from lines
