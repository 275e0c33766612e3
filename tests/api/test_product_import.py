"""POST /api/admin/products/import: CSV or XLSX, upsert by SKU, all or nothing (docs/backoffice-import.md)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Category, Product, Variant
from shopwright.inventory.models import StockLevel, StockMovement
from tests.factories import admin, assert_problem, customer
from tests.factories.catalog import Shop, counts, set_reserved, stock_of
from tests.factories.imports import IMPORT, csv_file, imported, upload, xlsx_file

HEADER = [
    "sku",
    "name",
    "description",
    "category",
    "price_cents",
    "cost_cents",
    "stock_quantity",
    "is_active",
]


def _stored(sessions: sessionmaker[Session], sku: str) -> dict[str, Any]:
    """Return what the database holds for a SKU (product fields, variant prices, stock)."""
    with sessions() as session:
        variant = session.scalars(select(Variant).where(Variant.sku == sku)).one()
        product = session.get(Product, variant.product_id)
        assert product is not None
        category = session.get(Category, product.category_id) if product.category_id else None
        level = session.get(StockLevel, variant.id)
        return {
            "name": product.name,
            "description": product.description,
            "category": category.name if category else None,
            "price_cents": variant.price_cents,
            "cost_cents": variant.cost_cents,
            "stock": level.quantity if level else None,
            "is_active": product.is_active,
            "min_price_cents": product.min_price_cents,
            "default": variant.is_default,
            "variant_name": variant.name,
        }


def _errors(response: Any) -> list[tuple[int, str]]:
    body = assert_problem(response, 422, "invalid_import")
    return [(e["row"], e["field"]) for e in body["errors"]]


# --- who ---------------------------------------------------------------------------------------------
def test_only_admins_import(shop: Shop, client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    content = csv_file([["sku", "name", "price_cents"], ["A-1", "Axe", "100"]])
    before = counts(sessions)
    assert_problem(upload(shop, content, headers={}), 401)
    assert_problem(upload(shop, content, headers=customer(client).headers), 403)
    assert counts(sessions) == before


# --- creating and updating ------------------------------------------------------------------------------
def test_new_skus_create_products_with_categories_stock_and_movements(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    rows = [
        HEADER,
        ["rake-1", "Rake", "Leaf rake", "Garden > Tools", "1999", "800", "12", "true"],
        ["HOSE-2", "Hose", "", "garden > Hoses", "2500", "", "", "false"],
        ["SEED-3", "Seeds", "", "", "", "", "0", ""],
    ]
    assert _errors(upload(shop, csv_file(rows))) == [(4, "price_cents")]  # a new SKU needs a price
    assert counts(sessions)["products"] == 0
    rows[3][4] = "350"

    result = imported(shop, csv_file(rows))

    assert result == {"created": 3, "updated": 0, "unchanged": 0, "categories_created": 3}
    rake = _stored(sessions, "RAKE-1")
    assert rake == {
        "name": "Rake",
        "description": "Leaf rake",
        "category": "Tools",
        "price_cents": 1999,
        "cost_cents": 800,
        "stock": 12,
        "is_active": True,
        "min_price_cents": 1999,
        "default": True,
        "variant_name": "Rake",
    }
    hose = _stored(sessions, "HOSE-2")
    assert (hose["category"], hose["is_active"], hose["stock"], hose["cost_cents"]) == ("Hoses", False, 0, 0)
    with sessions() as session:
        garden = session.scalars(select(Category).where(Category.name == "Garden")).one()
        assert garden.parent_id is None
        moves = session.execute(
            select(StockMovement.reason, StockMovement.delta, StockMovement.actor_id)
        ).all()
    assert moves == [("import", 12, shop.admin.id)]  # stock 0 moves nothing


def test_price_column_takes_a_decimal_amount(shop: Shop, sessions: sessionmaker[Session]) -> None:
    imported(shop, csv_file([["sku", "name", "price"], ["P-1", "Pen", "19.99"], ["P-2", "Pad", "7"]]))

    assert _stored(sessions, "P-1")["price_cents"] == 1999
    assert _stored(sessions, "P-2")["price_cents"] == 700


def test_existing_skus_change_only_the_columns_given(shop: Shop, sessions: sessionmaker[Session]) -> None:
    category = shop.category("Lighting")
    lamp = shop.product(category["id"], "Lamp", sku="LAMP-1", price_cents=5000, stock_quantity=4)
    shop.product(category["id"], "Bulb", sku="BULB-1", price_cents=300, stock_quantity=50)

    result = imported(shop, csv_file([["sku", "price_cents"], ["lamp-1", "4500"], ["BULB-1", "300"]]))

    assert result == {"created": 0, "updated": 1, "unchanged": 1, "categories_created": 0}
    stored = _stored(sessions, "LAMP-1")
    assert (stored["name"], stored["category"], stored["stock"]) == ("Lamp", "Lighting", 4)
    assert (stored["price_cents"], stored["min_price_cents"]) == (4500, 4500)
    result = imported(shop, csv_file([["sku", "stock_quantity", "name"], ["LAMP-1", "9", "Desk lamp"]]))
    assert result["updated"] == 1
    assert _stored(sessions, "LAMP-1")["name"] == "Desk lamp"
    assert stock_of(sessions, lamp["variants"][0]["id"]) == (9, 0)


def test_a_variant_sku_updates_its_own_prices_and_its_product(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    product = shop.product_with_variants(
        shop.category()["id"], [{"sku": "TEE-S", "price_cents": 1000}, {"sku": "TEE-M", "price_cents": 1200}]
    )

    imported(
        shop, csv_file([["sku", "price_cents", "name"], ["TEE-S", "1500", "Tee"], ["TEE-M", "1100", "Tee"]])
    )

    assert _stored(sessions, "TEE-S")["price_cents"] == 1500
    assert _stored(sessions, "TEE-M")["min_price_cents"] == 1100
    assert _stored(sessions, "TEE-M")["name"] == "Tee"
    conflicting = csv_file([["sku", "name"], ["TEE-S", "Shirt"], ["TEE-M", "Top"]])
    assert _errors(upload(shop, conflicting)) == [(3, "name")]
    assert product["id"]


def test_stock_never_goes_below_reserved(shop: Shop, sessions: sessionmaker[Session]) -> None:
    product = shop.product(None, sku="KITE-1", stock_quantity=10)
    variant_id = product["variants"][0]["id"]
    set_reserved(sessions, variant_id, 6)

    response = upload(shop, csv_file([["sku", "stock_quantity", "name"], ["KITE-1", "5", "Kite"]]))

    body = assert_problem(response, 422, "invalid_import")
    assert body["errors"] == [
        {
            "row": 2,
            "field": "stock_quantity",
            "message": "6 unit(s) are reserved in carts; stock cannot go below that",
        }
    ]
    assert _stored(sessions, "KITE-1")["name"] != "Kite"
    assert stock_of(sessions, variant_id) == (10, 6)
    assert imported(shop, csv_file([["sku", "stock_quantity"], ["KITE-1", "6"]]))["updated"] == 1


# --- all or nothing ---------------------------------------------------------------------------------
def test_any_invalid_row_refuses_the_whole_file_with_every_error(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    shop.product(None, sku="OLD-1", price_cents=100)
    before = counts(sessions)
    rows = [
        HEADER,
        ["NEW-1", "Fine", "", "A > B", "100", "", "1", "true"],  # row 2: valid
        ["bad sku", "X", "", "", "100", "", "", ""],  # 3
        ["NEW-2", "X" * 201, "", "", "100", "", "", ""],  # 4
        ["NEW-3", "Nul\x00name", "", "", "-5", "", "", ""],  # 5
        ["NEW-4", "Y", "", "", "12.5", "", "1000000001", "maybe"],  # 6
        ["new-1", "Twin", "", "", "100", "", "", ""],  # 7: a duplicate of row 2
        ["NEW-5", "", "", "A >  > B", "100", "", "", ""],  # 8: new without name, empty category level
        ["OLD-1", "", "", "", "", "99999999999999", "", ""],  # 9
    ]

    response = upload(shop, csv_file(rows))

    assert _errors(response) == [
        (3, "sku"),
        (4, "name"),
        (5, "name"),  # a cell with a NUL byte: only that is said of its row
        (6, "price_cents"),
        (6, "stock_quantity"),
        (6, "is_active"),
        (7, "sku"),
        (8, "category"),
        (9, "cost_cents"),
    ]
    assert counts(sessions) == before
    # Rows that pass the file's own checks then meet the database's: both kinds in one answer is not
    # promised, but a file with only the second kind is refused whole too.
    response = upload(
        shop, csv_file([["sku", "name", "price_cents"], ["NEW-6", "Fine", "1"], ["NEW-7", "", ""]])
    )
    assert _errors(response) == [(3, "name"), (3, "price_cents")]
    assert counts(sessions) == before


@pytest.mark.parametrize(
    ("header", "field"),
    [
        (["sku", "name", "colour"], "colour"),
        (["name", "price_cents"], "sku"),
        (["sku", "price", "price_cents"], "price"),
        (["sku", "name", "name"], "name"),
    ],
)
def test_header_problems_are_row_one(shop: Shop, header: list[str], field: str) -> None:
    response = upload(shop, csv_file([header, ["A-1", "x", "1"]]))

    assert (1, field) in _errors(response)


def test_an_empty_file_or_one_without_rows_is_refused(shop: Shop) -> None:
    assert _errors(upload(shop, b"")) == [(1, "sku")]
    assert _errors(upload(shop, csv_file([["sku", "name"]]))) == [(2, "")]


# --- formats ----------------------------------------------------------------------------------------
def test_bom_semicolons_and_formula_prefixes_are_read(shop: Shop, sessions: sessionmaker[Session]) -> None:
    content = csv_file([["sku", "name", "price_cents"], ["F-1", "'=SUM(A1)", "100"]], delimiter=";", bom=True)

    assert imported(shop, content)["created"] == 1
    assert _stored(sessions, "F-1")["name"] == "=SUM(A1)"


def test_xlsx_first_sheet_with_numbers_booleans_and_blank_rows(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    rows: list[list[Any]] = [
        ["SKU", "Name", "Category", "Price", "Stock_Quantity", "is_active"],
        ["X-1", "Xylophone", "Music > Toys", 19.99, 3, True],
        [None, None, None, None, None, None],
        ["X-2", "Maracas", "Music", 5, 0, False],
    ]

    assert imported(shop, xlsx_file(rows), "products.xlsx") == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "categories_created": 2,
    }
    assert _stored(sessions, "X-1")["price_cents"] == 1999
    assert (_stored(sessions, "X-2")["is_active"], _stored(sessions, "X-2")["stock"]) == (False, 0)
    bad = [rows[0], rows[1], rows[2], ["X-3", "Bad", "", -1, 1, True]]
    assert _errors(upload(shop, xlsx_file(bad), "products.xlsx")) == [(4, "price")]


def test_a_file_that_is_neither_csv_nor_xlsx_is_415(shop: Shop, sessions: sessionmaker[Session]) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("hello.txt", "not a workbook")
    for content in (b"\x89PNG\r\n\x1a\n\x00\x00", "sku,name\n".encode("utf-16"), archive.getvalue()):
        assert_problem(upload(shop, content), 415, "unsupported_import_file")
    assert counts(sessions)["products"] == 0


def test_the_form_needs_a_file(shop: Shop) -> None:
    response = shop.client.post(
        IMPORT, data={"other": "x"}, headers=shop.headers, content_type="multipart/form-data"
    )
    assert_problem(response, 422)
    assert_problem(shop.client.post(IMPORT, json={"file": "x"}, headers=shop.headers), 422)
    as_text = shop.client.post(
        IMPORT, data={"file": "sku\nA-1"}, headers=shop.headers, content_type="multipart/form-data"
    )
    assert_problem(as_text, 422)


def test_the_import_takes_its_own_size_limit(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session]
) -> None:
    app = make_app(MAX_REQUEST_BYTES=2048, IMPORT_MAX_BYTES=20_000)
    shop = Shop(app, app.test_client(), admin(app, app.test_client()))
    rows = [["sku", "name", "price_cents"], *[[f"S-{i}", f"Product number {i}", "100"] for i in range(300)]]
    content = csv_file(rows)
    assert 2048 < len(content) < 20_000

    assert imported(shop, content)["created"] == 300
    too_big = csv_file([*rows, *[[f"T-{i}", "x" * 100, "1"] for i in range(200)]])
    assert_problem(upload(shop, too_big), 413)
    assert counts(sessions)["products"] == 300


def test_new_products_take_free_slugs_like_the_api(shop: Shop, sessions: sessionmaker[Session]) -> None:
    shop.product(None, "Rake")  # rake
    shop.product(None, "Rake R 1")  # rake-r-1
    rows = [["sku", "name", "price_cents"], ["R-1", "Rake", "1"], ["R-2", "Rake", "1"], ["R-3", "RAKE!", "1"]]

    assert imported(shop, csv_file(rows))["created"] == 3

    with sessions() as session:
        slugs = dict(
            session.execute(
                select(Variant.sku, Product.slug)
                .join(Product, Product.id == Variant.product_id)
                .where(Variant.sku.in_(["R-1", "R-2", "R-3"]))
            ).all()
        )
    # The name's slug is taken: the SKU's is added; taken too: numbered.
    assert slugs == {"R-1": "rake-r-1-2", "R-2": "rake-r-2", "R-3": "rake-r-3"}
