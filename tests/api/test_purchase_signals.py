"""What paid orders tell the catalog: verified-purchase reviews and "bought together" recommendations."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.factories import customer
from tests.factories.catalog import PRODUCTS, Shop
from tests.factories.orders import Buyer


def _buyer(client: FlaskClient) -> Buyer:
    return Buyer(client, customer(client))


def _paid(buyer: Buyer, *product_ids: int) -> dict[str, Any]:
    for product_id in product_ids:
        buyer.added(1, product_id=product_id)
    order = buyer.ordered()
    assert buyer.pay(order["id"]).status_code == 200
    return order


def _review(buyer: Buyer, product_id: int) -> dict[str, Any]:
    response = buyer.client.post(
        f"{PRODUCTS}/{product_id}/reviews", json={"rating": 5, "title": "Good"}, headers=buyer.account.headers
    )
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json
    return body


def test_a_review_is_a_verified_purchase_only_after_a_paid_order(shop: Shop, client: FlaskClient) -> None:
    category = shop.category()
    bought, unpaid, cancelled, never = (shop.product(category["id"]) for _ in range(4))
    buyer = _buyer(client)
    _paid(buyer, bought["id"])
    buyer.added(1, product_id=unpaid["id"])
    buyer.ordered()
    buyer.added(1, product_id=cancelled["id"])
    order = buyer.ordered()
    assert buyer.pay(order["id"]).status_code == 200
    assert (
        buyer.client.post(f"/api/orders/{order['id']}/cancel", headers=buyer.account.headers).status_code
        == 200
    )

    verified = {
        p["id"]: _review(buyer, p["id"])["verified_purchase"] for p in (bought, unpaid, cancelled, never)
    }

    assert verified == {bought["id"]: True, unpaid["id"]: False, cancelled["id"]: False, never["id"]: False}


def test_recommendations_rank_bought_together_then_best_sellers_then_newest(
    shop: Shop, client: FlaskClient
) -> None:
    home, elsewhere = shop.category("Home"), shop.category("Garden")
    lamp, shade, bulb, vase, rug, _newest = (
        shop.product(home["id"], name) for name in ("Lamp", "Shade", "Bulb", "Vase", "Rug", "New")
    )
    hose = shop.product(elsewhere["id"], "Hose")
    _paid(_buyer(client), lamp["id"], shade["id"])
    _paid(_buyer(client), lamp["id"], shade["id"], hose["id"])
    _paid(_buyer(client), lamp["id"], bulb["id"])
    rug_fan = _buyer(client)
    rug_fan.added(3, product_id=rug["id"])
    assert rug_fan.pay(rug_fan.ordered()["id"]).status_code == 200
    pending = _buyer(client)
    pending.added(1, product_id=lamp["id"])
    pending.added(1, product_id=vase["id"])
    pending.ordered()  # never paid: does not count

    items = client.get(f"{PRODUCTS}/{lamp['id']}/recommendations").json["items"]

    # shade (2 orders with the lamp), then hose and bulb (1 each, higher id first), then the home
    # category's best sellers (rug: 3 units), then the newest of the category
    assert [item["name"] for item in items] == ["Shade", "Hose", "Bulb", "Rug", "New", "Vase"]


def test_recommendations_skip_withdrawn_products(shop: Shop, client: FlaskClient) -> None:
    category = shop.category()
    lamp, shade, bulb = (shop.product(category["id"], name) for name in ("Lamp", "Shade", "Bulb"))
    _paid(_buyer(client), lamp["id"], shade["id"], bulb["id"])
    shop.delete(shade["id"])
    shop.hide(bulb["id"])
    assert client.get(f"{PRODUCTS}/{lamp['id']}/recommendations").json["items"] == []
