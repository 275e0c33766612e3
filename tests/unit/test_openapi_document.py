"""The OpenAPI document's names and media types: what a generated client or a fuzzer is built from.

Operation ids become the generated client's function and module names, so each is written by hand on
its route (flask-openapi's made-up ones read like `products_get_product__int_product_id__get`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from shopwright import create_app
from tests.conftest import make_settings

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
OPERATION_ID = re.compile(r"^[a-z][a-zA-Z]+$")
TAGS = {"Accounts", "Catalog", "Cart", "Orders", "Payments", "Admin", "Reports", "Meta"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    app = create_app(make_settings("sqlite://"))  # the document needs no database
    spec: dict[str, Any] = app.test_client().get("/api/openapi.json").json
    return spec


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_every_operation_has_a_hand_written_camel_case_id(document: dict[str, Any]) -> None:
    operations = _operations(document)

    assert len(operations) >= 65
    bad = {
        name: op.get("operationId")
        for name, op in operations
        if not OPERATION_ID.match(op.get("operationId", ""))
    }
    assert bad == {}
    too_long = [op["operationId"] for _, op in operations if len(op["operationId"]) > 40]
    assert too_long == []


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    counts = Counter(op["operationId"] for _, op in _operations(document))

    assert [name for name, n in counts.items() if n > 1] == []


def test_operation_ids_keep_no_method_or_path_residue(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        method, path = name.split(" ")
        operation_id = operation["operationId"]
        assert not operation_id.lower().endswith(method.lower()), name
        for parameter in re.findall(r"{(\w+)}", path):
            assert parameter.replace("_", "").lower() not in operation_id.lower(), name


def test_every_operation_has_one_domain_tag(document: dict[str, Any]) -> None:
    tags = {name: op.get("tags") for name, op in _operations(document)}

    assert {name: t for name, t in tags.items() if t is None or len(t) != 1 or t[0] not in TAGS} == {}
    assert {t[0] for t in tags.values() if t} == TAGS


def test_every_error_status_is_problem_json(document: dict[str, Any]) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for name, operation in _operations(document):
        responses = operation["responses"]
        assert responses["default"]["content"] == {"application/problem+json": {"schema": problem}}, name
        for status, response in responses.items():
            if status != "default" and int(status) >= 400:
                assert set(response["content"]) == {"application/problem+json"}, (name, status)


@pytest.mark.parametrize(
    ("method", "path", "media_type"),
    [
        ("get", "/api/docs", "text/html"),
        ("get", "/api/problems", "text/markdown"),
        ("get", "/api/health", "application/json"),
        ("get", "/api/products", "application/json"),
    ],
)
def test_success_media_types_are_the_ones_sent(
    document: dict[str, Any], method: str, path: str, media_type: str
) -> None:
    assert list(document["paths"][path][method]["responses"]["200"]["content"]) == [media_type]


def test_conditional_and_retry_headers_are_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in ("/api/products", "/api/categories/{category_id}/products"):
        responses = paths[path]["get"]["responses"]
        assert "ETag" in responses["200"]["headers"], path
        assert "ETag" in responses["304"]["headers"], path
        assert "content" not in responses["304"], path
        headers = [p["name"] for p in paths[path]["get"]["parameters"] if p["in"] == "header"]
        assert headers == ["If-None-Match"], path
    for path in ("/api/auth/login", "/api/auth/register"):
        assert "Retry-After" in paths[path]["post"]["responses"]["429"]["headers"], path
    for path in ("/api/orders", "/api/payments/process", "/api/admin/orders/{order_id}/refund"):
        headers = [p for p in paths[path]["post"]["parameters"] if p["in"] == "header"]
        assert [(h["name"], h["required"], h["schema"]["type"]) for h in headers] == [
            ("Idempotency-Key", False, "string")
        ], path
