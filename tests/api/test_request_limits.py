"""Bounded requests: bodies over MAX_REQUEST_BYTES are refused (413) before they are read, an endpoint may
take a larger limit (IMPORT_MAX_BYTES), and JSON nested deeper than limits.MAX_JSON_DEPTH is a 400."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shopwright.accounts.models import User
from shopwright.limits import MAX_JSON_DEPTH, body_limit
from tests.factories import PASSWORD, assert_problem, unique_email

MIB = 1024 * 1024
REGISTER = "/api/auth/register"


def _users(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(User)) or 0)


def _register_body(size: int) -> bytes:
    """A valid registration of exactly `size` bytes (padded with JSON whitespace)."""
    body = json.dumps({"email": unique_email(), "password": PASSWORD}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def _chunked(client: FlaskClient, path: str, body: bytes) -> Any:
    """POST `body` as a server passes a chunked request on: no Content-Length, a terminated stream."""
    return client.post(
        path,
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides={
            "CONTENT_LENGTH": "",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input_terminated": True,
        },
    )


def test_a_body_of_exactly_the_limit_is_accepted(client: FlaskClient) -> None:
    response = client.post(REGISTER, data=_register_body(MIB), content_type="application/json")
    assert response.status_code == 201, response.json


def test_one_byte_over_the_limit_is_413_and_writes_nothing(
    client: FlaskClient, sessions: sessionmaker[Session]
) -> None:
    before = _users(sessions)

    response = client.post(REGISTER, data=_register_body(MIB + 1), content_type="application/json")

    body = assert_problem(response, 413, "content_too_large")
    assert body["title"] == "Content Too Large"
    assert body["detail"] == f"The request body is larger than {MIB} bytes"
    assert _users(sessions) == before


def test_the_size_is_refused_before_the_body_is_parsed(client: FlaskClient) -> None:
    # Not JSON at all: a 400 would mean it was read and parsed first.
    response = client.post(REGISTER, data=b"{" * (MIB + 1), content_type="application/json")
    assert_problem(response, 413, "content_too_large")


def test_a_chunked_body_is_cut_off_at_the_limit(client: FlaskClient, sessions: sessionmaker[Session]) -> None:
    before = _users(sessions)

    body = assert_problem(_chunked(client, REGISTER, _register_body(MIB + 1)), 413, "content_too_large")
    assert body["detail"] == f"The request body is larger than {MIB} bytes"
    assert _users(sessions) == before
    assert _chunked(client, REGISTER, _register_body(MIB)).status_code == 201


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/orders", "/api/admin/vouchers", "/api/nope"])
def test_the_limit_holds_on_every_route_anonymous_or_not(client: FlaskClient, path: str) -> None:
    assert_problem(client.post(path, data=b" " * (MIB + 1), content_type="application/json"), 413)


def test_max_request_bytes_is_a_setting(make_app: Callable[..., Flask]) -> None:
    client = make_app(MAX_REQUEST_BYTES=2048).test_client()

    assert (
        client.post(REGISTER, data=_register_body(2048), content_type="application/json").status_code == 201
    )
    body = assert_problem(
        client.post(REGISTER, data=_register_body(2049), content_type="application/json"), 413
    )
    assert body["detail"] == "The request body is larger than 2048 bytes"


def test_an_endpoint_can_take_the_import_limit(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_REQUEST_BYTES=2048, IMPORT_MAX_BYTES=8192)

    @body_limit("IMPORT_MAX_BYTES")
    def upload() -> dict[str, int]:
        from flask import request

        return {"bytes": len(request.get_data())}

    app.add_url_rule("/api/test-upload", view_func=upload, methods=["POST"])
    client = app.test_client()
    data = {"file": (io.BytesIO(b"x" * 6000), "products.csv")}

    response = client.post("/api/test-upload", data=data, content_type="multipart/form-data")

    assert response.status_code == 200, response.json
    assert response.json["bytes"] > 6000
    too_big = {"file": (io.BytesIO(b"x" * 9000), "products.csv")}
    assert_problem(client.post("/api/test-upload", data=too_big, content_type="multipart/form-data"), 413)
    # The other endpoints keep MAX_REQUEST_BYTES.
    assert_problem(client.post(REGISTER, data=_register_body(3000), content_type="application/json"), 413)


# --- nesting -------------------------------------------------------------------------------------
def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
def test_json_nested_too_deep_is_400_and_writes_nothing(
    client: FlaskClient, sessions: sessionmaker[Session], depth: int
) -> None:
    before = _users(sessions)
    body = b'{"email": "deep@example.com", "password": "Passw0rd-ok", "full_name": ' + _nested(depth) + b"}"

    response = client.post(REGISTER, data=body, content_type="application/json")

    problem = assert_problem(response, 400, "bad_request")
    assert problem["detail"] == f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels"
    assert _users(sessions) == before


def test_json_as_deep_as_the_limit_is_parsed_and_validated(client: FlaskClient) -> None:
    # The body object is one level: a field nesting MAX_JSON_DEPTH - 1 more is within the limit.
    body = (
        b'{"email": "ok@example.com", "password": "Passw0rd-ok", "full_name": '
        + _nested(MAX_JSON_DEPTH - 1)
        + b"}"
    )
    assert_problem(client.post(REGISTER, data=body, content_type="application/json"), 422, "validation_error")


def test_a_wide_flat_body_is_not_mistaken_for_a_deep_one(client: FlaskClient) -> None:
    wide = json.dumps({"email": unique_email(), "password": PASSWORD, "x": [[1]] * 500}).encode()
    problem = assert_problem(client.post(REGISTER, data=wide, content_type="application/json"), 422)
    assert "x" in {entry["field"] for entry in problem["errors"]}
