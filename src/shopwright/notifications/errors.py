"""Notification errors (outgoing webhooks)."""

from shopwright.errors import Conflict, InvalidRequest, NotFound


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    title = "Webhook endpoint not found"


class WebhookDeliveryNotFound(NotFound):
    code = "webhook_delivery_not_found"
    title = "Webhook delivery not found"


class WebhookUrlRefused(InvalidRequest):
    code = "webhook_url_refused"
    title = "Webhook URL not allowed"


class WebhookDeliveryInProgress(Conflict):
    code = "webhook_delivery_in_progress"
    title = "Webhook delivery in progress"
