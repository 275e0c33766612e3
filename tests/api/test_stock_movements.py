"""Stock movements: every change of quantity on hand is recorded (who, when, delta, reason), listed by
GET /api/admin/inventory/<variant_id>/movements newest first with a cursor."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.inventory.models import StockMovement
from tests.factories import assert_problem, customer
from tests.factories.catalog import Shop, set_reserved, stock_of
from tests.factories.orders import ORDERS, Buyer

INVENTORY = "/api/admin/inventory"


@pytest.fixture
def product(shop: Shop) -> dict[str, Any]:
    return shop.product(None, "Lamp", stock_quantity=10, sku="LAMP-1")


def _variant(product: dict[str, Any]) -> int:
    return int(product["variants"][0]["id"])


def _movements(shop: Shop, variant_id: int, query: str = "") -> list[dict[str, Any]]:
    response = shop.client.get(f"{INVENTORY}/{variant_id}/movements{query}", headers=shop.headers)
    assert response.status_code == 200, response.json
    items: list[dict[str, Any]] = response.json["items"]
    return items


def _summary(items: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(m["reason"], m["delta"], m["quantity_after"]) for m in items]


def _sum_of_deltas(sessions: sessionmaker[Session], variant_id: int) -> int:
    with sessions() as session:
        total = session.scalar(
            select(func.coalesce(func.sum(StockMovement.delta), 0)).where(
                StockMovement.variant_id == variant_id
            )
        )
        return int(total or 0)


def test_only_admins_see_movements_and_an_unknown_variant_is_404(
    shop: Shop, product: dict[str, Any], client: FlaskClient
) -> None:
    url = f"{INVENTORY}/{_variant(product)}/movements"
    assert_problem(client.get(url), 401)
    assert_problem(client.get(url, headers=customer(client).headers), 403)
    assert_problem(client.get(f"{INVENTORY}/999999/movements", headers=shop.headers), 404)
    assert_problem(client.get(f"{INVENTORY}/99999999999/movements", headers=shop.headers), 404)


def test_admin_changes_are_recorded_with_who_and_what_they_left(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    variant_id = _variant(product)
    assert (
        shop.client.put(f"{INVENTORY}/{variant_id}", json={"delta": -3}, headers=shop.headers).status_code
        == 200
    )
    assert (
        shop.client.put(f"{INVENTORY}/{variant_id}", json={"quantity": 12}, headers=shop.headers).status_code
        == 200
    )
    shop.update(product["id"], stock_quantity=4)
    shop.update(product["id"], stock_quantity=4)  # no change: no movement

    items = _movements(shop, variant_id)

    assert _summary(items) == [
        ("admin_adjustment", -8, 4),
        ("admin_adjustment", 5, 12),
        ("admin_adjustment", -3, 7),
        ("initial", 10, 10),
    ]
    assert {m["actor_id"] for m in items} == {shop.admin.id}
    assert all(m["order_id"] is None and m["variant_id"] == variant_id for m in items)
    assert items[0]["created_at"].endswith("Z")
    assert _sum_of_deltas(sessions, variant_id) == stock_of(sessions, variant_id)[0] == 4


def test_a_refused_change_records_nothing(
    shop: Shop, product: dict[str, Any], sessions: sessionmaker[Session]
) -> None:
    variant_id = _variant(product)
    set_reserved(sessions, variant_id, 6)

    response = shop.client.put(f"{INVENTORY}/{variant_id}", json={"quantity": 5}, headers=shop.headers)

    assert_problem(response, 409, "stock_below_reserved")
    assert _summary(_movements(shop, variant_id)) == [("initial", 10, 10)]


def test_sale_edit_and_cancellation_name_the_order_and_the_customer(
    shop: Shop, product: dict[str, Any], buyer: Buyer, sessions: sessionmaker[Session]
) -> None:
    variant_id = _variant(product)
    order = buyer.buy(product["id"], 3)
    item_id = order["items"][0]["id"]
    body = {"items": [{"item_id": item_id, "quantity": 1}]}
    assert (
        buyer.client.patch(f"{ORDERS}/{order['id']}", json=body, headers=buyer.account.headers).status_code
        == 200
    )
    assert (
        buyer.client.post(f"{ORDERS}/{order['id']}/cancel", headers=buyer.account.headers).status_code == 200
    )

    items = _movements(shop, variant_id)

    assert _summary(items) == [
        ("cancel_restock", 1, 10),
        ("order_edit", 2, 9),
        ("sale", -3, 7),
        ("initial", 10, 10),
    ]
    assert [(m["order_id"], m["actor_id"]) for m in items[:3]] == [(order["id"], buyer.account.id)] * 3
    assert _sum_of_deltas(sessions, variant_id) == stock_of(sessions, variant_id)[0] == 10


def test_an_admin_cancelling_is_the_actor(shop: Shop, product: dict[str, Any], buyer: Buyer) -> None:
    order = buyer.buy(product["id"], 2)
    response = shop.client.put(
        f"/api/admin/orders/{order['id']}/status", json={"status": "cancelled"}, headers=shop.headers
    )
    assert response.status_code == 200, response.json

    newest = _movements(shop, _variant(product))[0]

    assert (newest["reason"], newest["delta"], newest["actor_id"]) == ("cancel_restock", 2, shop.admin.id)


def test_pages_follow_the_cursor_newest_first(shop: Shop, product: dict[str, Any]) -> None:
    variant_id = _variant(product)
    for delta in (1, 2, 3, 4):
        shop.client.put(f"{INVENTORY}/{variant_id}", json={"delta": delta}, headers=shop.headers)

    seen: list[int] = []
    cursor = ""
    while True:
        response = shop.client.get(
            f"{INVENTORY}/{variant_id}/movements?limit=2{cursor}", headers=shop.headers
        )
        seen += [m["delta"] for m in response.json["items"]]
        if response.json["next_cursor"] is None:
            break
        cursor = f"&cursor={response.json['next_cursor']}"

    assert seen == [4, 3, 2, 1, 10]
    assert_problem(
        shop.client.get(f"{INVENTORY}/{variant_id}/movements?cursor=nonsense", headers=shop.headers), 422
    )
