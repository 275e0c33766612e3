"""GET /metrics: Prometheus text with requests by route template, business counters, outbox gauges."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from shopwright import outbox
from shopwright.db import utcnow
from shopwright.outbox import Event
from tests.factories import assert_problem
from tests.factories.catalog import Shop
from tests.factories.orders import Buyer


def _samples(client: FlaskClient, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.data
    assert response.content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_requests_are_counted_by_route_template_never_the_raw_path(client: FlaskClient, buyer: Buyer) -> None:
    before = _samples(client)
    for order_id in (123456, 123457):
        client.get(f"/api/orders/{order_id}", headers=buyer.account.headers)

    after = _samples(client)
    route = "/api/orders/<int:order_id>"
    labels = {"method": "GET", "route": route, "status": "404"}
    name = "shopwright_http_request_duration_seconds_count"
    assert _value(after, name, **labels) - _value(before, name, **labels) == 2
    assert not any("123456" in str(key) for key in after)
    assert _value(after, "shopwright_http_request_duration_seconds_bucket", **labels, le="+Inf") >= 2


def test_business_counters_move_with_orders_and_payments(
    client: FlaskClient, buyer: Buyer, shop: Shop
) -> None:
    product = shop.product(None, stock_quantity=5)
    before = _samples(client)

    order = buyer.buy(product["id"])
    assert buyer.pay(order["id"]).status_code == 200
    other = buyer.buy(product["id"])
    assert buyer.pay(other["id"], "tok_chargeDeclined").status_code == 402

    after = _samples(client)
    assert (
        _value(after, "shopwright_orders_placed_total") - _value(before, "shopwright_orders_placed_total")
        == 2
    )
    for outcome in ("succeeded", "failed"):
        name = "shopwright_payments_total"
        assert _value(after, name, outcome=outcome) - _value(before, name, outcome=outcome) == 1
    # each order's confirmation and the payment's email went out
    sent = _value(after, "shopwright_emails_total", outcome="sent") - _value(
        before, "shopwright_emails_total", outcome="sent"
    )
    assert sent == 3


def test_outbox_backlog_gauges_are_read_at_scrape_time(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    assert _value(_samples(client), "shopwright_outbox_pending_events") == 0
    with sessions() as session, session.begin():
        outbox.publish(session, "nobody.listens", {})
        session.flush()
        session.query(Event).update({Event.created_at: utcnow() - timedelta(minutes=5)})

    samples = _samples(client)
    assert _value(samples, "shopwright_outbox_pending_events") == 1
    assert 299 < _value(samples, "shopwright_outbox_oldest_pending_seconds") < 330


def test_a_metrics_token_is_required_when_set(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_TOKEN="scrape-me-0123456789").test_client()

    assert_problem(client.get("/metrics"), 401, "unauthorized")
    assert_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert client.get("/metrics").headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert _samples(client, Authorization="Bearer scrape-me-0123456789")
