"""Email delivery behind one small interface: SMTP in production, files in the embedded default."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from shopwright.config import Settings
from shopwright.observability import get_logger

log = get_logger(__name__)


class EmailSender(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise."""


class FileEmailSender:
    """Writes each message as an .eml file into a folder and logs it (no mail server needed)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{uuid.uuid4().hex}.eml"
        path.write_bytes(message.as_bytes())
        log.info("email.written", to=message["To"], subject=message["Subject"], path=str(path))


class SmtpEmailSender:
    """Sends through an SMTP server, with STARTTLS and login when configured."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=10) as smtp:
            if s.SMTP_STARTTLS:
                smtp.starttls()
            if s.SMTP_USERNAME:
                smtp.login(s.SMTP_USERNAME, s.SMTP_PASSWORD or "")
            smtp.send_message(message)
        log.info("email.sent", to=message["To"], subject=message["Subject"])


def make_email_sender(settings: Settings) -> EmailSender:
    """Return the sender the settings ask for."""
    if settings.EMAIL_BACKEND == "smtp":
        return SmtpEmailSender(settings)
    return FileEmailSender(settings.EMAIL_OUTBOX_DIR)
