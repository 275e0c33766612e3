"""Notification handlers: turn outbox events into emails."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from shopwright.notifications.email import EmailSender


def send_password_reset(sender: EmailSender, from_address: str, payload: dict[str, Any]) -> None:
    """Email the password reset link of a `accounts.password_reset_requested` event."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = payload["email"]
    message["Subject"] = "Reset your Shopwright password"
    greeting = f"Hello {payload['full_name']}," if payload.get("full_name") else "Hello,"
    message.set_content(
        f"{greeting}\n\n"
        "Someone (hopefully you) asked to reset the password of this account.\n"
        f"Open this link to choose a new one:\n\n  {payload['reset_url']}\n\n"
        f"Or use this token with POST /api/auth/password-reset/confirm:\n\n  {payload['token']}\n\n"
        f"The link works once and expires at {payload['expires_at']} (UTC).\n"
        "If you did not ask for this, ignore this email: your password stays as it is.\n"
    )
    sender.send(message)
