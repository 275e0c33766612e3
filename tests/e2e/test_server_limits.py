"""Limits enforced before the app runs, through a real gunicorn process: its own answers to an over-long
request line or oversized headers are problem+json like every other error, and chunked bodies past
MAX_REQUEST_BYTES are refused."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

from tests.support.servers import LiveServer


def _raw(server: LiveServer, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes on a new connection; return status, headers (lower-case names) and body."""
    address = urlsplit(server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        data = b""
        while chunk := connection.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def test_an_over_long_request_line_is_a_problem_not_an_html_page(live_server: LiveServer) -> None:
    path = "/api/products?q=" + "a" * 5000

    status, headers, body = _raw(live_server, f"GET {path} HTTP/1.1\r\nHost: shop\r\n\r\n".encode())

    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert problem["status"] == 414
    assert problem["code"] == "uri_too_long"
    assert problem["type"] == "/api/problems#uri_too_long"
    assert "<html>" not in body.decode()


def test_a_request_line_within_the_limit_reaches_the_app(live_server: LiveServer) -> None:
    path = "/api/products?q=" + "a" * 3000
    status, _, body = _raw(
        live_server, f"GET {path} HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n\r\n".encode()
    )
    assert status == 422  # the app's own answer: q is at most 200 characters
    assert json.loads(body)["code"] == "validation_error"


def test_an_oversized_header_is_a_problem(live_server: LiveServer) -> None:
    request = f"GET /api/health HTTP/1.1\r\nHost: shop\r\nX-Big: {'b' * 9000}\r\n\r\n".encode()

    status, headers, body = _raw(live_server, request)

    assert status == 431
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert (problem["status"], problem["code"]) == (431, "request_header_fields_too_large")


def test_a_chunked_body_past_the_limit_is_413(live_server: LiveServer) -> None:
    chunk = b"x" * 65536
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17))  # 1.06 MiB
    head = (
        b"POST /api/auth/register HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )

    status, _, body = _raw(live_server, head + chunks + b"0\r\n\r\n")

    assert status == 413
    assert json.loads(body)["code"] == "content_too_large"
    small = json.dumps({"email": "chunked@example.com", "password": "Passw0rd-ok"}).encode()
    status, _, _ = _raw(live_server, head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small))
    assert status == 201
