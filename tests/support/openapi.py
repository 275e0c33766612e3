"""Checking an answer against the OpenAPI document the app serves."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from werkzeug.test import TestResponse


def assert_documented(document: dict[str, Any], method: str, path: str, response: TestResponse) -> None:
    """Assert the response's status, media type and body are the ones the document gives for them."""
    operation = document["paths"][path][method.lower()]
    status = str(response.status_code)
    declared = operation["responses"].get(status) or operation["responses"]["default"]
    content = declared.get("content")
    if content is None:
        assert response.get_data() == b"", f"{method} {path} {status} documents no body"
        return
    assert response.mimetype in content, (method, path, status, response.mimetype, list(content))
    schema = content[response.mimetype]["schema"]
    if response.mimetype.endswith("json"):
        validator = Draft202012Validator({**schema, "components": document["components"]})
        errors = [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(response.json)
        ]
        assert errors == [], (method, path, status)
