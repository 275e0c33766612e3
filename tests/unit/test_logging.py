"""Every request leaves one JSON log line carrying its request id."""

import json

import pytest

from shopwright import create_app
from tests.conftest import make_settings


def test_a_request_is_logged_as_json_with_its_request_id(capsys: pytest.CaptureFixture[str]) -> None:
    app = create_app(make_settings("sqlite:///:memory:", LOG_LEVEL="INFO", LOG_JSON=True))

    response = app.test_client().get("/api/nope", headers={"X-Request-ID": "req-123"})

    assert response.headers["X-Request-ID"] == "req-123"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [entry] = [line for line in lines if line.get("event") == "request"]
    assert entry["request_id"] == "req-123"
    assert (entry["method"], entry["path"], entry["status"]) == ("GET", "/api/nope", 404)
    assert entry["level"] == "info"
    assert entry["timestamp"].endswith("Z")


def test_an_unsafe_request_id_is_replaced() -> None:
    app = create_app(make_settings("sqlite:///:memory:"))
    response = app.test_client().get("/api/nope", headers={"X-Request-ID": "bad id with spaces"})
    assert response.headers["X-Request-ID"] != "bad id with spaces"
    assert len(response.headers["X-Request-ID"]) == 32
