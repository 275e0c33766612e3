"""The HTTP side of outgoing webhooks: the SSRF guard, the signature, one POST to a checked address.

A URL is checked when an admin saves it *and* right before each delivery, and the request then goes to
the very address that was checked (the connection is pinned to it; TLS still verifies the host name):
a name that resolved to a public address when saved and to 127.0.0.1 now (DNS rebinding) is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SIGNATURE_HEADER = "Shopwright-Signature"
SNIPPET_CHARS = 200


class UnsafeUrl(ValueError):
    """The URL's scheme or the addresses its host resolves to are not allowed."""


@dataclass(frozen=True)
class Answer:
    status: int
    snippet: str


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the Shopwright-Signature value: `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _allowed(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # is_global is False for private, loopback, link-local, shared (CGNAT), reserved and unspecified ranges.
    return ip.is_global and not ip.is_multicast


def resolve(url: str, *, allow_private: bool) -> str:
    """Return the address to send `url`'s requests to, or raise UnsafeUrl."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        raise UnsafeUrl("must use https")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"host {host!r} does not resolve ({error})") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        refused = [address for address in addresses if not _allowed(address)]
        if refused:  # one bad address is enough: the client may pick any of them
            raise UnsafeUrl(f"host {host!r} resolves to a private, loopback or link-local address")
    return addresses[0]


def post(url: str, address: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to `url` through a connection to `address`; return the status and a short snippet."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname or "", port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", port, timeout=timeout)

    def pinned(_address: Any, connect_timeout: Any = None, source: Any = None) -> socket.socket:
        return socket.create_connection((address, port), connect_timeout, source)

    connection._create_connection = pinned  # type: ignore[attr-defined]  # connect to the checked address
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    deadline = time.monotonic() + timeout
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        # Only a short snippet of the receiver's answer is read and kept, never the whole body.
        snippet = response.read(SNIPPET_CHARS).decode("utf-8", "replace")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no complete answer within {timeout:g} s")
        return Answer(response.status, snippet)
    finally:
        connection.close()
