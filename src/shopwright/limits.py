"""Request limits at the web edge: how large a body may be (per endpoint), how deeply its JSON may nest,
and ids in paths of ASCII digits only. app.py applies them before a body is parsed or a view runs; see
docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

V = TypeVar("V", bound=Callable[..., Any])

# No request body of this API nests anywhere near this deep; every level costs the parser a native stack
# frame (Python's json gives up near 1,000 with a RecursionError) and the validators one more.
MAX_JSON_DEPTH = 32
_BODY_LIMIT_ATTRIBUTE = "shopwright_body_limit"


def body_limit(setting: str) -> Callable[[V], V]:
    """Let a view take bodies up to the setting named `setting` (IMPORT_MAX_BYTES), not MAX_REQUEST_BYTES."""

    def mark(view: V) -> V:
        view.__dict__[_BODY_LIMIT_ATTRIBUTE] = setting
        return view

    return mark


def body_limit_of(view: Callable[..., Any] | None, settings: Any) -> int:
    """Return how many body bytes `view` accepts under `settings`."""
    setting = getattr(view, _BODY_LIMIT_ATTRIBUTE, "MAX_REQUEST_BYTES")
    limit: int = getattr(settings, setting)
    return limit


def nests_deeper_than(value: Any, limit: int, *, brackets: int) -> bool:
    """Tell whether parsed JSON `value` has more than `limit` levels of arrays and objects.

    `brackets` (how many `[` and `{` its text has) bounds the depth: most bodies are decided without a walk.
    """
    if brackets <= limit:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]  # iterative: a recursive walk is what this guards against
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def limit_body() -> None:
    """Refuse a body over the endpoint's limit with 413: a declared one before any of it is read.

    A chunked body declares no length: it is read up to one byte past the limit, never further.
    """
    view = current_app.view_functions.get(request.endpoint or "")
    limit = body_limit_of(view, current_app.extensions["shopwright.settings"])
    request.max_content_length = limit
    if request.content_length is not None:
        if request.content_length > limit:
            raise RequestEntityTooLarge()
    elif "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # Werkzeug stops a stream at max_content_length without a word: the byte past it tells.
        request.max_content_length = limit + 1
        size = len(request.get_data())
        request.max_content_length = limit
        if size > limit:
            raise RequestEntityTooLarge()


class AsciiIntConverter(IntegerConverter):
    """`<int:…>` path segments of ASCII digits only.

    Werkzeug's own matches `\\d+`, which in Python also takes other scripts' digits: `/api/products/\\uff11`
    (a fullwidth one) named product 1.
    """

    regex = r"[0-9]+"


class NestedTooDeep(BadRequest):
    description = f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels"


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than MAX_JSON_DEPTH with a 400.

    Without it, 100,000 levels were a RecursionError (a 500), and a few hundred would reach the
    validators, which recurse too.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            value = super().loads(s, **kwargs)
        except RecursionError as error:
            raise NestedTooDeep() from error
        brackets = s.count("[") + s.count("{") if isinstance(s, str) else s.count(b"[") + s.count(b"{")
        if nests_deeper_than(value, MAX_JSON_DEPTH, brackets=brackets):
            raise NestedTooDeep()
        return value
