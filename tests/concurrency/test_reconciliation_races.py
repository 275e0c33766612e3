"""Reconciliation sweeps racing the provider's webhooks: each stuck payment settles once."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.orders import payment as order_payment
from shopwright.payments.gateway import sign_webhook
from shopwright.payments.models import Payment
from tests.factories.catalog import Shop
from tests.support.payments import WEBHOOK_SECRET, LostAnswerGateway, later, payment_state, stuck_order
from tests.support.races import race


@pytest.fixture
def app(make_app: Any) -> Flask:
    app: Flask = make_app(PAYMENT_WEBHOOK_SECRET=WEBHOOK_SECRET)
    return app


def test_sweeps_racing_the_providers_webhook_pay_the_order_once(
    app: Flask, shop: Shop, sessions: sessionmaker[Session]
) -> None:
    gateway = LostAnswerGateway(WEBHOOK_SECRET)
    orders = [stuck_order(app, shop, gateway)[0] for _ in range(4)]
    with sessions() as session:
        payment_ids = {
            p.order_id: p.id for p in session.scalars(select(Payment).where(Payment.order_id.in_(orders)))
        }

    def webhook(order_id: int, n: int) -> int:
        data = {"payment_id": payment_ids[order_id], "provider_ref": f"test_ch_webhook_{order_id}"}
        body = json.dumps({"id": f"evt_{order_id}_{n}", "type": "payment.succeeded", "data": data}).encode()
        headers = {
            "Shopwright-Signature": sign_webhook(WEBHOOK_SECRET, body),
            "Content-Type": "application/json",
        }
        response = app.test_client().post("/api/payments/webhooks/test", data=body, headers=headers)
        return int(response.status_code)

    def sweep() -> int:
        with sessions() as session:
            return order_payment.reconcile_payments(session, gateway, now=later()).settled

    actions = [sweep] * 3 + [lambda o=o, n=n: webhook(o, n) for o in orders for n in range(2)]
    results = race(len(actions), lambda i: actions[i]())

    assert all(code == 200 for code in results[3:])
    for order_id in orders:
        status, payments, _ = payment_state(sessions, order_id)
        assert (status, payments) == ("paid", ["succeeded"])
    assert payment_state(sessions, orders[0])[2] == len(orders)  # one order.paid event per order
