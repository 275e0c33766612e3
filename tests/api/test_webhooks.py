"""Outgoing webhooks: admin CRUD, the URL guard, signed deliveries after commit, retries, redelivery."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from shopwright.db import utcnow
from shopwright.notifications import webhooks
from shopwright.notifications.models import WebhookDelivery, WebhookEndpoint
from tests.conftest import Mailbox
from tests.factories import assert_problem, customer, error_fields
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer
from tests.support.openapi import assert_documented
from tests.webhook_receiver import Receiver, documented_verify, webhook_receiver

HOOKS = "/api/admin/webhooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as server:
        yield server


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    # The receiver listens on 127.0.0.1: allowed here as in development.
    return make_app(WEBHOOK_ALLOW_PRIVATE_URLS=True)


def _create(shop: Shop, url: str, events: list[str], **fields: Any) -> dict[str, Any]:
    response = shop.client.post(HOOKS, json={"url": url, "events": events, **fields}, headers=shop.headers)
    assert response.status_code == 201, response.json
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _endpoints(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEndpoint)) or 0)


# --- endpoints ---------------------------------------------------------------------------------
def test_only_admins_manage_webhooks(client: FlaskClient, shop: Shop) -> None:
    someone = customer(client)
    for method, path in [("GET", HOOKS), ("POST", HOOKS), ("GET", f"{HOOKS}/1"), ("PATCH", f"{HOOKS}/1")]:
        assert client.open(path, method=method, json={}).status_code == 401
        assert client.open(path, method=method, json={}, headers=someone.headers).status_code == 403


def test_an_endpoint_shows_its_secret_only_on_creation_and_rotation(shop: Shop, receiver: Receiver) -> None:
    created = _create(shop, receiver.url, ["order.paid", "order.paid", "product.created"], description="ERP")

    assert created["secret"].startswith("whsec_")
    assert len(bytes.fromhex(created["secret"].removeprefix("whsec_"))) == 32
    assert created["events"] == ["order.paid", "product.created"]
    assert (created["is_active"], created["description"]) == (True, "ERP")
    shown = shop.client.get(f"{HOOKS}/{created['id']}", headers=shop.headers).json
    assert "secret" not in shown
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    listed = shop.client.get(HOOKS, headers=shop.headers).json
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]

    rotated = shop.client.post(f"{HOOKS}/{created['id']}/rotate-secret", headers=shop.headers)
    assert rotated.status_code == 200
    assert rotated.json["secret"] not in (created["secret"], None)


def test_list_pages_with_a_cursor(shop: Shop, receiver: Receiver) -> None:
    ids = [_create(shop, receiver.url, ["order.paid"])["id"] for _ in range(3)]
    first = shop.client.get(f"{HOOKS}?limit=2", headers=shop.headers).json
    second = shop.client.get(f"{HOOKS}?limit=2&cursor={first['next_cursor']}", headers=shop.headers).json
    assert [e["id"] for e in first["items"] + second["items"]] == ids[::-1]
    assert second["next_cursor"] is None


def test_patch_and_delete(shop: Shop, receiver: Receiver) -> None:
    created = _create(shop, receiver.url, ["order.paid"])
    path = f"{HOOKS}/{created['id']}"

    patched = shop.client.patch(
        path, json={"events": ["order.shipped"], "is_active": False}, headers=shop.headers
    )
    assert patched.status_code == 200, patched.json
    assert (patched.json["events"], patched.json["is_active"]) == (["order.shipped"], False)
    assert_problem(shop.client.patch(path, json={"secret": "mine"}, headers=shop.headers), 422)

    assert shop.client.delete(path, headers=shop.headers).status_code == 204
    assert_problem(shop.client.get(path, headers=shop.headers), 404, "webhook_not_found")
    assert_problem(shop.client.delete(path, headers=shop.headers), 404, "webhook_not_found")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://hooks.example.com/x", "events": ["order.exploded"]}, "events.0"),
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "not a url", "events": ["order.paid"]}, "url"),
        ({"url": "ftp://hooks.example.com/x", "events": ["order.paid"]}, "url"),
        ({"url": "https://user:pw@hooks.example.com/x", "events": ["order.paid"]}, "url"),
        ({"url": "https://hooks.example.com:99999/x", "events": ["order.paid"]}, "url"),
        ({"events": ["order.paid"]}, "url"),
    ],
)
def test_unknown_events_and_malformed_urls_are_422_and_save_nothing(
    shop: Shop, sessions: sessionmaker[Session], body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        shop.client.post(HOOKS, json=body, headers=shop.headers), 422, "validation_error"
    )
    assert field in error_fields(problem)
    assert _endpoints(sessions) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https
        "https://127.0.0.1/x",  # loopback
        "https://localhost/x",
        "https://[::1]/x",
        "https://10.1.2.3/x",  # private
        "https://192.168.0.10/x",
        "https://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped loopback
        "https://0.0.0.0/x",
        "https://does-not-resolve.invalid/x",
    ],
)
def test_private_or_plain_http_urls_are_refused_without_the_development_switch(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], url: str
) -> None:
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    shop = Shop(app, app.test_client())
    response = shop.client.post(HOOKS, json={"url": url, "events": ["order.paid"]}, headers=shop.headers)
    problem = assert_problem(response, 422, "webhook_url_refused")
    assert error_fields(problem) == {"url"}
    assert _endpoints(sessions) == 0
    # A PATCH to such a URL is refused the same way
    with sessions() as session, session.begin():
        session.add(WebhookEndpoint(url="https://hooks.example.com/x", events=["order.paid"], secret="s"))
    with sessions() as session:
        endpoint_id = session.scalars(select(WebhookEndpoint.id)).one()
    patched = shop.client.patch(f"{HOOKS}/{endpoint_id}", json={"url": url}, headers=shop.headers)
    assert_problem(patched, 422, "webhook_url_refused")


# --- deliveries --------------------------------------------------------------------------------
def test_an_order_event_is_posted_signed_with_the_order_as_the_api_renders_it(
    shop: Shop, buyer: Buyer, receiver: Receiver
) -> None:
    hook = _create(shop, receiver.url, ["order.created", "order.paid"])
    product = shop.product(None, price_cents=2_500, stock_quantity=20)

    order = buyer.buy(product["id"], 2)
    assert buyer.pay(order["id"]).status_code == 200

    created, paid = receiver.wait_for(2)
    verify = documented_verify()
    for request, event_type in [(created, "order.created"), (paid, "order.paid")]:
        assert verify(hook["secret"], request.headers["Shopwright-Signature"], request.body)
        assert not verify("whsec_other", request.headers["Shopwright-Signature"], request.body)
        assert request.headers["Shopwright-Event"] == str(request.json["id"])
        assert request.headers["Content-Type"] == "application/json"
        assert request.json["type"] == event_type
        assert request.json["created_at"].endswith("Z")
        assert request.headers["Shopwright-Delivery"].isdigit()
    assert created.json["data"]["status"] == "pending"
    # data is the order exactly as GET /api/orders/<id> rendered it then (paid: now)
    assert paid.json["data"] == buyer.order(order["id"])
    # A signature of another body, or an old timestamp, does not verify
    assert not verify(hook["secret"], created.headers["Shopwright-Signature"], paid.body)
    stale = "t=1000000000,v1=" + created.headers["Shopwright-Signature"].split("v1=")[1]
    assert not verify(hook["secret"], stale, created.body)

    listed = shop.client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=shop.headers).json["items"]
    assert [(d["type"], d["status"], d["attempts"], d["response_code"]) for d in listed] == [
        ("order.paid", "succeeded", 1, 200),
        ("order.created", "succeeded", 1, 200),
    ]
    assert set(listed[0]) == {
        "id",
        "event_id",
        "type",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    }


def test_only_subscribed_active_endpoints_receive_an_event(
    shop: Shop, buyer: Buyer, receiver: Receiver
) -> None:
    _create(shop, receiver.url, ["order.shipped"])
    off = _create(shop, receiver.url, ["order.created"])
    shop.client.patch(f"{HOOKS}/{off['id']}", json={"is_active": False}, headers=shop.headers)
    product = shop.product(None)

    buyer.buy(product["id"])

    assert receiver.wait_for(1, timeout=1.0) == []


def test_product_and_low_stock_events(shop: Shop, buyer: Buyer, receiver: Receiver) -> None:
    _create(
        shop, receiver.url, ["product.created", "product.updated", "product.deleted", "inventory.low_stock"]
    )

    product = shop.product(None, "Lamp", stock_quantity=7)
    shop.update(product["id"], name="Lamp 2")
    buyer.buy(product["id"], 1)  # 6 left: not low yet
    buyer.buy(product["id"], 2)  # 4 left: crosses 5
    buyer.buy(product["id"], 1)  # 3 left: already low, no second event
    shop.delete(product["id"])

    received = receiver.wait_for(5)
    assert [r.json["type"] for r in received] == [
        "product.created",
        "product.updated",
        "inventory.low_stock",
        "product.deleted",
    ]
    assert received[0].json["data"]["name"] == "Lamp"
    assert received[1].json["data"]["name"] == "Lamp 2"
    low = received[2].json["data"]
    assert (low["variant_id"], low["quantity"], low["sku"]) == (
        product["variants"][0]["id"],
        4,
        product["variants"][0]["sku"],
    )
    assert received[3].json["data"]["id"] == product["id"]


def test_a_failing_receiver_is_retried_with_backoff_and_can_be_redelivered(
    shop: Shop, buyer: Buyer, receiver: Receiver, sessions: sessionmaker[Session]
) -> None:
    hook = _create(shop, receiver.url, ["order.created"])
    receiver.status = 500
    product = shop.product(None)

    buyer.buy(product["id"])

    [first] = receiver.wait_for(1)
    [delivery] = shop.client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=shop.headers).json["items"]
    assert (delivery["status"], delivery["attempts"], delivery["response_code"]) == ("pending", 1, 500)
    assert delivery["last_error"] == "HTTP 500"
    with sessions() as session:
        row = session.get(WebhookDelivery, delivery["id"])
        assert row is not None
        wait = row.next_attempt_at - utcnow()  # type: ignore[operator]
        assert timedelta(seconds=55) < wait <= timedelta(seconds=66)  # 60 s plus up to 10 % jitter
        assert row.response_snippet == "x" * 200  # never more of the receiver's answer
        endpoint = session.get(WebhookEndpoint, hook["id"])
        assert endpoint is not None
        assert endpoint.failing_since is not None

    # When the receiver is fixed and an admin redelivers
    receiver.status = 200
    path = f"{HOOKS}/{hook['id']}/deliveries/{delivery['id']}/redeliver"
    response = shop.client.post(path, headers=shop.headers)
    assert response.status_code == 202, response.json

    # Then the same event, the same bytes, arrive again, and the delivery succeeded
    _, second = receiver.wait_for(2)
    assert second.body == first.body
    [done] = shop.client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=shop.headers).json["items"]
    assert (done["status"], done["attempts"], done["response_code"], done["last_error"]) == (
        "succeeded",
        2,
        200,
        None,
    )
    for bad in (
        f"{hook['id']}/deliveries/999999",
        f"{2**40}/deliveries/{delivery['id']}",
        f"1/deliveries/{2**40}",
    ):
        assert_problem(
            shop.client.post(f"{HOOKS}/{bad}/redeliver", headers=shop.headers),
            404,
            "webhook_delivery_not_found",
        )


def test_an_endpoint_failing_for_three_days_is_disabled_and_the_admins_are_told(
    shop: Shop, buyer: Buyer, receiver: Receiver, sessions: sessionmaker[Session], mailbox: Mailbox
) -> None:
    hook = _create(shop, receiver.url, ["order.created"])
    receiver.status = 503
    with sessions() as session, session.begin():
        session.execute(
            update(WebhookEndpoint).values(
                failing_since=utcnow() - webhooks.DISABLE_AFTER - timedelta(minutes=1)
            )
        )
    product = shop.product(None)

    buyer.buy(product["id"])

    receiver.wait_for(1)
    shown = shop.client.get(f"{HOOKS}/{hook['id']}", headers=shop.headers).json
    assert shown["is_active"] is False
    assert shown["disabled_at"] is not None
    [notice] = mailbox.to(shop.admin.email)
    assert notice["Subject"] == f"Webhook endpoint #{hook['id']} was disabled"
    # Turned on again, it starts with a clean slate
    again = shop.client.patch(f"{HOOKS}/{hook['id']}", json={"is_active": True}, headers=shop.headers).json
    assert (again["is_active"], again["failing_since"], again["disabled_at"]) == (True, None, None)


def test_the_address_is_checked_again_at_delivery_time(
    make_app: Callable[..., Flask], sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    # Given an endpoint saved while its name resolved to a public address, now resolving to 127.0.0.1
    # (DNS rebinding): stored directly, as the API would have accepted it then
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    shop = Shop(app, app.test_client())
    url = f"https://localhost:{receiver.port}/hooks"
    with sessions() as session, session.begin():
        session.add(WebhookEndpoint(url=url, events=["product.created"], secret="whsec_x"))

    shop.product(None)

    # Then nothing was sent and the delivery records why
    assert receiver.wait_for(1, timeout=1.0) == []
    with sessions() as session:
        delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, None)
    assert delivery.last_error is not None
    assert "private, loopback or link-local" in delivery.last_error
    assert json.loads(delivery.body)["type"] == "product.created"


def test_every_webhook_answer_matches_the_document(shop: Shop, buyer: Buyer, receiver: Receiver) -> None:
    document: dict[str, Any] = shop.client.get("/api/openapi.json").json  # type: ignore[assignment]
    hook = _create(shop, receiver.url, ["order.created"])
    buyer.buy(shop.product(None)["id"])
    receiver.wait_for(1)
    one = f"{HOOKS}/{{webhook_id}}"
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", HOOKS, {"json": {"url": receiver.url, "events": ["order.paid"]}}),
        ("GET", HOOKS, {}),
        ("GET", one, {}),
        ("PATCH", one, {"json": {"description": "ERP"}}),
        ("POST", f"{one}/rotate-secret", {}),
        ("GET", f"{one}/deliveries", {}),
        ("GET", f"{one}/deliveries", {"query_string": {"limit": 0}}),
        ("POST", f"{HOOKS}/{{webhook_id}}/deliveries/{{delivery_id}}/redeliver", {}),
        ("DELETE", one, {}),
        ("GET", one, {}),
    ]
    [delivery] = shop.client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=shop.headers).json["items"]
    for method, template, kw in calls:
        url = template.format(webhook_id=hook["id"], delivery_id=delivery["id"])
        response = shop.client.open(url, method=method, headers=shop.headers, **kw)
        assert response.status_code < 500
        assert_documented(document, method, template, response)
    metrics = shop.client.get("/metrics")
    assert_documented(document, "GET", "/metrics", metrics)
