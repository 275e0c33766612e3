"""GET /api/admin/products/export: CSV in the import's columns, safe to open in a spreadsheet, and an
import of it changes nothing."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop, counts
from tests.factories.imports import EXPORT, csv_file, export_table, exported, imported

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


def test_only_admins_export(shop: Shop, client: FlaskClient) -> None:
    assert_problem(client.get(EXPORT), 401)
    assert_problem(client.get(EXPORT, headers=customer(client).headers), 403)


def test_every_variant_of_every_product_not_deleted_one_row_each(shop: Shop) -> None:
    garden = shop.category("Garden")
    tools = shop.category("Tools", parent_id=garden["id"])
    shop.product(
        tools["id"], "Rake", sku="RAKE-1", price_cents=1999, stock_quantity=12, description="Leaf rake"
    )
    shirt = shop.product_with_variants(
        garden["id"],
        [{"sku": "TEE-S", "price_cents": 1000, "cost_cents": 400}, {"sku": "TEE-M", "price_cents": 1200}],
        name="Tee",
    )
    shop.hide(shirt["id"])
    gone = shop.product(None, "Gone", sku="GONE-1")
    shop.delete(gone["id"])

    response = shop.client.get(EXPORT, headers=shop.headers)

    assert response.headers["Content-Disposition"] == 'attachment; filename="products.csv"'
    assert response.data.startswith("\ufeff".encode())
    assert export_table(shop) == [
        HEADER,
        ["RAKE-1", "Rake", "Leaf rake", "Garden > Tools", "1999", "0", "12", "true"],
        ["TEE-S", "Tee", "", "Garden", "1000", "400", "0", "false"],
        ["TEE-M", "Tee", "", "Garden", "1200", "0", "0", "false"],
    ]


def test_cells_a_spreadsheet_would_run_are_prefixed(shop: Shop) -> None:
    for sku, name in [
        ("F-1", '=HYPERLINK("http://x")'),
        ("F-2", "+1"),
        ("F-3", "-2"),
        ("F-4", "@cmd"),
        ("F-5", "'quoted"),
    ]:
        shop.product(None, name, sku=sku)

    names = [row[1] for row in export_table(shop)[1:]]

    assert names == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@cmd", "''quoted"]


def test_importing_an_export_changes_nothing(shop: Shop, sessions: sessionmaker[Session]) -> None:
    garden = shop.category("Garden")
    shop.category("Tools", parent_id=garden["id"])
    imported(
        shop,
        csv_file(
            [
                HEADER,
                [
                    "A-1",
                    "=cmd|' /C calc'!A0",
                    'Line one\nline two, "quoted"',
                    "Garden > Tools",
                    "1999",
                    "5",
                    "3",
                    "true",
                ],
                ["A-2", "  spaced name ", "'leading apostrophe", "", "0", "0", "0", "false"],
                ["A-3", "Ünïcødé ✓", "-minus", "Garden", "10", "", "", ""],
            ]
        ),
    )
    shop.product_with_variants(
        garden["id"], [{"sku": "V-1", "price_cents": 1}, {"sku": "V-2", "price_cents": 2}]
    )
    before = counts(sessions)
    first = exported(shop)

    result = imported(shop, first)

    assert result == {"created": 0, "updated": 0, "unchanged": 5, "categories_created": 0}
    assert counts(sessions) == before
    assert exported(shop) == first
