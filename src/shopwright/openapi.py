"""The OpenAPI document, as the API really answers.

Routes declare their success answers with flask-openapi's `responses=`: a model for a plain JSON body,
or `json_answer`, `text_answer` and the constants below where a media type or a header matters.
`finish_document` then writes what holds for every operation, once all routes are registered:
errors are problem+json (`default`, for every error status), and an operation that can answer 304 takes
`If-None-Match`. docs/api.md is the guide to what the document describes.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from shopwright.errors import PROBLEM_MEDIA_TYPE
from shopwright.schemas import Problem

SCHEMAS = "#/components/schemas/"
PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"{SCHEMAS}Problem"}}}
ETAG = {
    "description": "A strong validator of the exact body; send it back in If-None-Match",
    "schema": {"type": "string"},
}
CACHE_CONTROL = {
    "description": "public, max-age=N on anonymous catalog reads (shared caches may keep them N seconds); "
    "private, no-cache when the request carried Authorization",
    "schema": {"type": "string"},
}
NOT_MODIFIED = {
    "description": "Not modified: the If-None-Match ETag is still current (no body)",
    "headers": {"ETag": ETAG},
}
RATE_LIMITED = {
    "description": "Too many attempts from this client: retry after the given number of seconds",
    "headers": {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}},
    "content": PROBLEM_CONTENT,
}
IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "The ETag of a copy you hold: an unchanged answer is 304 with no body",
    "schema": {"type": "string"},
}

# Models named by json_answer: their schemas join the document's components in finish_document.
_answer_models: dict[str, type[BaseModel]] = {}


def json_answer(
    model: type[BaseModel], description: str, *, headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Declare a JSON response of `model` that also sends `headers`."""
    name = schema_name(model)
    _answer_models[name] = model
    answer: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"{SCHEMAS}{name}"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


def text_answer(media_type: str, description: str) -> dict[str, Any]:
    """Declare a response whose body is text of `media_type` (HTML, Markdown, CSV)."""
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def schema_name(model: type[BaseModel]) -> str:
    """Return the component name of a model, as flask-openapi writes it (`Page[X]` → `Page_X_`)."""
    return re.sub(r"[^\w.\-]", "_", model.__name__)


def finish_document(spec: dict[str, Any]) -> None:
    """Complete the built document in place: answer schemas, problem+json errors, conditional GETs."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("ValidationErrorModel", None)  # flask-openapi's 422 shape; ours is a Problem
    models: dict[str, type[BaseModel]] = {"Problem": Problem, **_answer_models}
    for name, model in models.items():
        schema = model.model_json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    for item in spec["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            responses.pop("422", None)
            responses["default"] = {"description": "Error (problem details)", "content": PROBLEM_CONTENT}
            if "304" in responses:
                operation.setdefault("parameters", []).append(IF_NONE_MATCH)
