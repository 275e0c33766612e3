"""Request limits: how large a body may be (per endpoint) and how deeply its JSON may nest.

The web edge (app.py) applies them before a body is parsed or a view runs; see docs/security.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

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
