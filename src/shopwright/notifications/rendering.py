"""Email rendering: Jinja2 templates (files in templates/), autoescaped HTML with a plain-text twin."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

# ISO 4217 currencies without minor units (the rest have two, the few with three are listed too).
_EXPONENTS = {"BIF": 0, "CLP": 0, "JPY": 0, "KRW": 0, "PYG": 0, "VND": 0, "XAF": 0, "XOF": 0, "ISK": 0}
_EXPONENTS |= {"BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def money(cents: int, currency: str) -> str:
    """Format minor units as an amount in its currency: 129900, "USD" → "1,299.00 USD"."""
    exponent = _EXPONENTS.get(currency.upper(), 2)
    sign = "-" if cents < 0 else ""
    whole, fraction = divmod(abs(cents), 10**exponent)
    amount = f"{whole:,}" + (f".{fraction:0{exponent}d}" if exponent else "")
    return f"{sign}{amount} {currency.upper()}"


def address_lines(address: str | dict[str, Any]) -> list[str]:
    """Return a shipping address (free text or structured, as OrderOut renders it) as printable lines."""
    if isinstance(address, str):
        return [line.strip() for line in address.splitlines() if line.strip()]
    city = " ".join(str(part) for part in (address.get("postal_code"), address.get("city")) if part)
    parts = [address.get(key) for key in ("full_name", "line1", "line2")]
    parts += [city, address.get("region"), address.get("country")]
    return [str(part) for part in parts if part]


_ENV = Environment(
    loader=PackageLoader("shopwright.notifications", "templates"),
    # Every value a customer typed (names, addresses) lands in the HTML escaped.
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_ENV.filters["money"] = money
_ENV.filters["address_lines"] = address_lines


def render_email(
    template: str, context: dict[str, Any], *, sender: str, to: str, message_id: str
) -> EmailMessage:
    """Render `<template>.subject.txt`, `.txt` and `.html` into one multipart/alternative message."""
    subject = _ENV.get_template(f"{template}.subject.txt").render(context).strip()
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = " ".join(subject.split())  # one line: no header injection through a name
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id
    message.set_content(_ENV.get_template(f"{template}.txt").render(context))
    message.add_alternative(_ENV.get_template(f"{template}.html").render(context), subtype="html")
    return message


def message_id_for(event_id: int, template: str, sender: str) -> str:
    """Return the Message-ID of an event's email: the same for every try, so a resend is recognisable."""
    domain = (
        Address(addr_spec=parseaddr(sender)[1] or "no-reply@shopwright.local").domain or "shopwright.local"
    )
    return f"<event-{event_id}.{template}@{domain}>"
