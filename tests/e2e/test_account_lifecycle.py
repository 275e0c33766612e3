"""A customer's whole account lifecycle through a real gunicorn server over HTTP."""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Mailbox
from tests.support.servers import LiveServer

PASSWORD = "Start-pass-1"


def test_register_login_profile_reset_and_logout(live_server: LiveServer, mailbox: Mailbox) -> None:
    server = live_server
    # register and log in
    status, user = server.request(
        "POST", "/api/auth/register", {"email": "Eve@Example.com", "password": PASSWORD}
    )
    assert status == 201
    assert user["email"] == "eve@example.com"
    status, tokens = server.request(
        "POST", "/api/auth/login", {"email": "eve@example.com", "password": PASSWORD}
    )
    assert status == 200
    assert tokens["token_type"] == "Bearer"

    # profile and address book
    status, me = server.request("GET", "/api/auth/me", token=tokens["access_token"])
    assert (status, me["id"]) == (200, user["id"])
    address = {"full_name": "Eve", "line1": "1 Rue", "city": "Paris", "postal_code": "75001", "country": "fr"}
    status, saved = server.request("POST", "/api/auth/me/addresses", address, token=tokens["access_token"])
    assert (status, saved["country"], saved["is_default"]) == (201, "FR", True)

    # forgotten password: the email goes through a real SMTP server
    status, _ = server.request("POST", "/api/auth/password-reset", {"email": "EVE@example.com"})
    assert status == 202
    deadline = time.monotonic() + 30  # sent once the answer is out (the outbox, after the response)
    while not mailbox.to("eve@example.com") and time.monotonic() < deadline:
        time.sleep(0.05)
    [message] = mailbox.to("eve@example.com")
    token = re.findall(r"token=([\w-]+)", message.get_content())[0]
    status, _ = server.request(
        "POST", "/api/auth/password-reset/confirm", {"token": token, "new_password": "New-pass-22"}
    )
    assert status == 200
    # sessions from before the reset are over, in every worker process
    for _ in range(4):
        assert server.request("GET", "/api/auth/me", token=tokens["access_token"])[0] == 401
    assert (
        server.request("POST", "/api/auth/login", {"email": "eve@example.com", "password": PASSWORD})[0]
        == 401
    )

    # a new login; its refresh token raced by clients hitting both workers rotates once
    status, tokens = server.request(
        "POST", "/api/auth/login", {"email": "eve@example.com", "password": "New-pass-22"}
    )
    assert status == 200
    with ThreadPoolExecutor(8) as pool:
        statuses = Counter(
            pool.map(
                lambda _: server.request(
                    "POST", "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]}
                )[0],
                range(8),
            )
        )
    assert statuses == Counter({200: 1, 401: 7})

    # logout ends the session
    status, tokens = server.request(
        "POST", "/api/auth/login", {"email": "eve@example.com", "password": "New-pass-22"}
    )
    assert server.request("POST", "/api/auth/logout", token=tokens["access_token"])[0] == 200
    assert server.request("GET", "/api/auth/me", token=tokens["access_token"])[0] == 401
    assert server.request("POST", "/api/auth/refresh", {"refresh_token": tokens["refresh_token"]})[0] == 401
