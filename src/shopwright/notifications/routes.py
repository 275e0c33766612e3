"""HTTP routes of /api/admin/webhooks (role admin): outgoing webhook endpoints and their deliveries."""

from __future__ import annotations

from flask_openapi import APIBlueprint, Tag

from shopwright.accounts.auth import BEARER, admin_required
from shopwright.db import get_session, get_settings
from shopwright.notifications import webhooks
from shopwright.notifications.schemas import (
    DeliveryOut,
    DeliveryPath,
    DeliveryQuery,
    WebhookCreate,
    WebhookOut,
    WebhookPath,
    WebhookUpdate,
    WebhookWithSecret,
)
from shopwright.schemas import LimitQuery, Page
from shopwright.web import Result, no_content, respond

bp = APIBlueprint(
    "webhooks",
    __name__,
    url_prefix="/api/admin/webhooks",
    abp_tags=[Tag(name="Admin")],
    abp_security=BEARER,
)


@bp.post(
    "",
    summary="Add a webhook endpoint; the answer shows its signing secret (only now and on rotation)",
    operation_id="adminCreateWebhook",
    responses={201: WebhookWithSecret},
)
@admin_required
def create_webhook(body: WebhookCreate) -> Result:
    allow = get_settings().WEBHOOK_ALLOW_PRIVATE_URLS
    return respond(WebhookWithSecret, webhooks.create_endpoint(get_session(), body, allow_private=allow), 201)


@bp.get(
    "",
    summary="List webhook endpoints, newest first",
    operation_id="adminListWebhooks",
    responses={200: Page[WebhookOut]},
)
@admin_required
def list_webhooks(query: LimitQuery) -> Result:
    page = webhooks.list_endpoints(get_session(), limit=query.limit, cursor=query.cursor)
    return respond(Page[WebhookOut], page)


@bp.get(
    "/<int:webhook_id>",
    summary="Show a webhook endpoint (without its secret)",
    operation_id="adminGetWebhook",
    responses={200: WebhookOut},
)
@admin_required
def get_webhook(path: WebhookPath) -> Result:
    return respond(WebhookOut, webhooks.get_endpoint(get_session(), path.webhook_id))


@bp.patch(
    "/<int:webhook_id>",
    summary="Change an endpoint's URL, events, description or is_active",
    operation_id="adminUpdateWebhook",
    responses={200: WebhookOut},
)
@admin_required
def update_webhook(path: WebhookPath, body: WebhookUpdate) -> Result:
    allow = get_settings().WEBHOOK_ALLOW_PRIVATE_URLS
    endpoint = webhooks.update_endpoint(get_session(), path.webhook_id, body, allow_private=allow)
    return respond(WebhookOut, endpoint)


@bp.delete(
    "/<int:webhook_id>",
    summary="Delete a webhook endpoint and its deliveries",
    operation_id="adminDeleteWebhook",
    responses={204: None},
)
@admin_required
def delete_webhook(path: WebhookPath) -> Result:
    webhooks.delete_endpoint(get_session(), path.webhook_id)
    return no_content()


@bp.post(
    "/<int:webhook_id>/rotate-secret",
    summary="Give an endpoint a new signing secret and show it",
    operation_id="adminRotateWebhookSecret",
    responses={200: WebhookWithSecret},
)
@admin_required
def rotate_webhook_secret(path: WebhookPath) -> Result:
    return respond(WebhookWithSecret, webhooks.rotate_secret(get_session(), path.webhook_id))


@bp.get(
    "/<int:webhook_id>/deliveries",
    summary="List an endpoint's deliveries, newest first",
    operation_id="adminListWebhookDeliveries",
    responses={200: Page[DeliveryOut]},
)
@admin_required
def list_deliveries(path: WebhookPath, query: DeliveryQuery) -> Result:
    page = webhooks.list_deliveries(get_session(), path.webhook_id, limit=query.limit, cursor=query.cursor)
    return respond(Page[DeliveryOut], page)


@bp.post(
    "/<int:webhook_id>/deliveries/<int:delivery_id>/redeliver",
    summary="Send a delivery again as soon as possible",
    operation_id="adminRedeliverWebhook",
    responses={202: DeliveryOut},
)
@admin_required
def redeliver(path: DeliveryPath) -> Result:
    delivery = webhooks.redeliver(get_session(), path.webhook_id, path.delivery_id)
    return respond(DeliveryOut, delivery, 202)
