"""Error kinds and their RFC 9457 problem+json rendering; the only place HTTP statuses live."""

from __future__ import annotations

import http
from typing import Any, ClassVar

from pydantic import ValidationError

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_DOCS = "/api/problems"  # `type` URIs point at sections of docs/problems.md served there


class ShopError(Exception):
    """A domain error: a status kind, a stable `code`, a human `detail` and optional extensions."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions


class NotFound(ShopError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(ShopError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidRequest(ShopError):
    status = 422
    code = "validation_error"
    title = "Invalid request"


class Unauthorized(ShopError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(ShopError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class UnsupportedContent(ShopError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported Media Type"


class PaymentRequired(ShopError):
    status = 402
    code = "payment_required"
    title = "Payment required"


class BadGateway(ShopError):
    status = 502
    code = "bad_gateway"
    title = "Bad gateway"


def problem(
    status: int, code: str, title: str, detail: str | None = None, **extensions: Any
) -> dict[str, Any]:
    """Build a problem details body."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_DOCS}#{code}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    body.update(extensions)
    return body


def as_response(
    body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Return a problem body as a (body, status, headers) view result with the problem media type."""
    return body, int(body["status"]), {**(headers or {}), "Content-Type": PROBLEM_MEDIA_TYPE}


def problem_for(error: ShopError) -> dict[str, Any]:
    """Render a domain error as problem details."""
    return problem(error.status, error.code, error.title, error.detail, **error.extensions)


# RFC 9110's names where Python's differ by version (3.13 renamed these): codes must not change with it.
_PHRASES = {413: "Content Too Large", 414: "URI Too Long"}


def problem_for_http(status: int, detail: str | None = None) -> dict[str, Any]:
    """Render a bare HTTP status (404 route, 405 method, 429, ...) as problem details."""
    phrase = _PHRASES.get(status) or http.HTTPStatus(status).phrase
    code = phrase.lower().replace(" ", "_").replace("-", "_")
    return problem(status, code, phrase, detail)


def validation_problem(error: ValidationError) -> dict[str, Any]:
    """Render a Pydantic validation error as a 422 problem with one entry per invalid field."""
    errors = [
        {
            "field": ".".join(str(part) for part in item["loc"]),
            "message": item["msg"].removeprefix("Value error, "),
        }
        for item in error.errors(include_url=False)
    ]
    detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
    return problem(422, "validation_error", "Invalid request", detail, errors=errors)
