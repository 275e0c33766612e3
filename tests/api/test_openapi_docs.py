"""GET /api/openapi.json describes the API; GET /api/docs works offline from the app's own assets."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest
from flask.testing import FlaskClient

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# Every Accounts operation (and the admin user routes), as OpenAPI paths.
ACCOUNTS_OPERATIONS = [
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/api/auth/me"),
    ("put", "/api/auth/me"),
    ("patch", "/api/auth/me"),
    ("delete", "/api/auth/me"),
    ("post", "/api/auth/change-password"),
    ("post", "/api/auth/password-reset"),
    ("post", "/api/auth/password-reset/confirm"),
    ("get", "/api/auth/me/addresses"),
    ("post", "/api/auth/me/addresses"),
    ("patch", "/api/auth/me/addresses/{address_id}"),
    ("delete", "/api/auth/me/addresses/{address_id}"),
    ("get", "/api/admin/users"),
    ("put", "/api/admin/users/{user_id}/toggle-status"),
    ("get", "/api/health"),
]
PUBLIC_OPERATIONS = {
    ("post", "/api/auth/register"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/password-reset"),
    ("post", "/api/auth/password-reset/confirm"),
    ("get", "/api/health"),
}


class _Assets(HTMLParser):
    """Collects the URLs a page loads: <script src>, <link href>, <img src>."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls.extend(value for name, value in attrs if name == wanted and value)


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.json  # type: ignore[assignment]
    return body


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_the_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "Shopwright API"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }


def test_every_operation_has_a_summary(document: dict[str, Any]) -> None:
    operations = _operations(document)

    assert operations
    missing = [
        f"{method.upper()} {path}" for method, path, op in operations if not op.get("summary", "").strip()
    ]
    assert missing == []


@pytest.mark.parametrize(("method", "path"), ACCOUNTS_OPERATIONS)
def test_every_accounts_route_is_documented(document: dict[str, Any], method: str, path: str) -> None:
    operation = document["paths"][path][method]

    assert operation["summary"]
    if (method, path) in PUBLIC_OPERATIONS:
        assert "security" not in operation or operation["security"] == []
    else:
        assert operation["security"] == [{"bearer": []}]


def test_request_bodies_are_described(document: dict[str, Any]) -> None:
    register = document["paths"]["/api/auth/register"]["post"]["requestBody"]["content"]["application/json"]

    schema = document["components"]["schemas"][register["schema"]["$ref"].rsplit("/", 1)[1]]

    assert set(schema["required"]) == {"email", "password"}
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("path", ["/api/docs", "/api/docs/"])
def test_docs_page_loads_only_local_assets(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200  # no redirect for either spelling
    assert response.mimetype == "text/html"
    parser = _Assets()
    parser.feed(response.get_data(as_text=True))
    assert len(parser.urls) >= 3
    for url in parser.urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url  # protocol-relative would load from another host
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.get_data(), url
        asset.close()
    assert '"/api/openapi.json"' in response.get_data(as_text=True)


def test_docs_with_and_without_slash_are_the_same_page(client: FlaskClient) -> None:
    assert client.get("/api/docs").get_data() == client.get("/api/docs/").get_data()


def test_errors_are_documented_as_problem_details(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").json
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            default = operation["responses"]["default"]
            assert "application/problem+json" in default["content"], (method, path)
            assert "422" not in operation["responses"], (method, path)
