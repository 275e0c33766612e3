"""Notification handlers: turn outbox events into emails."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from shopwright.notifications.email import EmailSender


def send_email_changed(sender: EmailSender, from_address: str, payload: dict[str, Any]) -> None:
    """Tell the old address of an account that its email changed (`accounts.email_changed`)."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = payload["old_email"]
    message["Subject"] = "Your Shopwright email address was changed"
    greeting = f"Hello {payload['full_name']}," if payload.get("full_name") else "Hello,"
    message.set_content(
        f"{greeting}\n\n"
        f"The email address of your Shopwright account was changed to {payload['new_email']}.\n"
        "Every other session of the account was logged out; from now on you log in with the new address.\n\n"
        "If you did not make this change, someone else may have taken over your account: contact the shop\n"
        "right away. This address no longer receives the account's emails.\n"
    )
    sender.send(message)


def send_password_reset(sender: EmailSender, from_address: str, payload: dict[str, Any]) -> None:
    """Email the password reset link of an `accounts.password_reset_issued` event."""
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
