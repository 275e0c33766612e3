"""The import's outbox events: one product.created / product.updated per product it creates or changes.

The same events a single product write publishes (docs/webhooks.md), written in the import's transaction:
an unchanged row publishes nothing, a refused file nothing at all. Delivery is left to a worker that is not
running here, so the events stay pending with their payloads; the last test delivers them to a
real webhook receiver. The catalog cache sees an import at once (its version is bumped after commit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.catalog.models import Variant
from shopwright.outbox import Event
from tests.factories import admin, assert_problem
from tests.factories.catalog import PRODUCTS, Shop
from tests.factories.imports import csv_file, imported, upload
from tests.webhook_receiver import Receiver, webhook_receiver

HEADER = ["sku", "name", "category", "price_cents", "stock_quantity"]
ROWS = [
    ["E-1", "Elm", "Trees", "100", "5"],
    ["E-2", "Ash", "Trees", "200", "5"],
    ["E-3", "Oak", "", "300", ""],
]


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(CATALOG_CACHE_ENABLED=True)
    # As with a worker that is not running: the app's commits deliver nothing in-process, so the events
    # stay pending with their payloads (a delivered event keeps only {"delivered": true}).
    factory = app.extensions["shopwright.sessions"]
    factory.configure(
        info={k: v for k, v in (factory.kw.get("info") or {}).items() if k != "shopwright.outbox"}
    )
    return app


def _events_after(sessions: sessionmaker[Session], after: int) -> list[tuple[str, int]]:
    """Return (name, product id) of the product events written after event id `after`, in id order."""
    with sessions() as session:
        rows = session.execute(select(Event.name, Event.payload).where(Event.id > after).order_by(Event.id))
        return [(name, payload["product_id"]) for name, payload in rows if name.startswith("product.")]


def _last_event(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(Event.id).order_by(Event.id.desc()).limit(1)) or 0


def _product_ids(sessions: sessionmaker[Session], *skus: str) -> list[int]:
    with sessions() as session:
        by_sku = dict(
            session.execute(select(Variant.sku, Variant.product_id).where(Variant.sku.in_(skus))).all()
        )
        return [by_sku[sku] for sku in skus]


def test_created_and_updated_products_publish_one_event_each(
    shop: Shop, sessions: sessionmaker[Session]
) -> None:
    start = _last_event(sessions)

    assert imported(shop, csv_file([HEADER, *ROWS]))["created"] == 3

    created = _product_ids(sessions, "E-1", "E-2", "E-3")
    assert _events_after(sessions, start) == [("product.created", pid) for pid in created]

    # The same file again: every row unchanged, no event.
    start = _last_event(sessions)
    assert imported(shop, csv_file([HEADER, *ROWS]))["unchanged"] == 3
    assert _events_after(sessions, start) == []

    # A price change, a stock change, a rename; one row as it is.
    changes = [["E-1", "", "", "150", ""], ["E-2", "", "", "", "9"], ["E-3", "Oak tree", "", "", ""]]
    start = _last_event(sessions)
    assert imported(shop, csv_file([HEADER, *changes]))["updated"] == 3
    assert _events_after(sessions, start) == [("product.updated", pid) for pid in sorted(created)]
    start = _last_event(sessions)
    mixed = [["E-1", "", "", "150", ""], ["E-4", "Fir", "Trees", "50", "1"]]
    assert imported(shop, csv_file([HEADER, *mixed])) == {
        "created": 1,
        "updated": 0,
        "unchanged": 1,
        "categories_created": 0,
    }
    assert _events_after(sessions, start) == [("product.created", _product_ids(sessions, "E-4")[0])]


def test_a_refused_file_publishes_nothing(shop: Shop, sessions: sessionmaker[Session]) -> None:
    imported(shop, csv_file([HEADER, *ROWS]))
    start = _last_event(sessions)
    # Two good rows (a change and a new SKU), one bad: nothing is written, no event either.
    bad = [["E-1", "", "", "999", ""], ["E-9", "New", "", "1", ""], ["E-2", "", "", "-1", ""]]

    assert_problem(upload(shop, csv_file([HEADER, *bad])), 422, "invalid_import")

    assert _events_after(sessions, start) == []


def test_the_catalog_cache_shows_an_import_at_once(shop: Shop, client: FlaskClient) -> None:
    assert client.get(PRODUCTS).json["items"] == []  # type: ignore[index]  # cached: empty
    imported(shop, csv_file([HEADER, *ROWS]))

    listed = client.get(PRODUCTS).json["items"]  # type: ignore[index]
    assert sorted(item["name"] for item in listed) == ["Ash", "Elm", "Oak"]
    imported(shop, csv_file([HEADER, ["E-1", "Elm tree", "", "", ""]]))
    assert "Elm tree" in [item["name"] for item in client.get(PRODUCTS).json["items"]]  # type: ignore[index]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as server:
        yield server


def test_webhook_endpoints_receive_each_imported_product(
    make_app: Callable[..., Flask], receiver: Receiver, sessions: sessionmaker[Session]
) -> None:
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True)  # inline delivery, as the embedded default
    shop = Shop(app, app.test_client(), admin(app, app.test_client()))
    hook = {"url": receiver.url, "events": ["product.created", "product.updated"]}
    assert shop.client.post("/api/admin/webhooks", json=hook, headers=shop.headers).status_code == 201

    imported(shop, csv_file([HEADER, *ROWS[:2]]))

    received = receiver.wait_for(2)
    assert sorted((r.json["type"], r.json["data"]["name"]) for r in received) == [
        ("product.created", "Ash"),
        ("product.created", "Elm"),
    ]
