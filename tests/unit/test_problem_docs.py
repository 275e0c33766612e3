"""Every problem `code` the API can answer has its own section in docs/problems.md.

The `type` of a problem is `/api/problems#<code>`, so a code without a `## <code>` heading is a broken
link. A new ShopError subclass without documentation fails here.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import shopwright
from shopwright.errors import ShopError

PROBLEMS_MD = Path(__file__).resolve().parents[2] / "docs" / "problems.md"

# Codes that are not ShopError classes: Pydantic validation, bare HTTP errors (errors.problem_for_http),
# the catch-all 500 and the health check's 503.
GENERIC_CODES = {
    "validation_error",
    "not_found",
    "conflict",
    "unauthorized",
    "forbidden",
    "bad_request",
    "unsupported_media_type",
    "content_too_large",
    "uri_too_long",
    "request_header_fields_too_large",
    "method_not_allowed",
    "too_many_requests",
    "internal_error",
    "service_unavailable",
}


def _import_all_modules() -> None:
    for module in pkgutil.walk_packages(shopwright.__path__, prefix="shopwright."):
        importlib.import_module(module.name)


def _subclasses(cls: type[ShopError]) -> set[type[ShopError]]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def _error_codes() -> set[str]:
    _import_all_modules()
    return {cls.code for cls in {ShopError, *_subclasses(ShopError)}}


def _documented_codes() -> set[str]:
    text = PROBLEMS_MD.read_text(encoding="utf-8")
    return set(re.findall(r"^## (\S+)[ \t]*$", text, flags=re.MULTILINE))


def test_every_shop_error_module_is_found() -> None:
    # Guards the walk itself: if it found nothing, the next test would pass vacuously.
    codes = _error_codes()
    assert {"email_taken", "invalid_cursor", "admin_required"} <= codes


def test_every_problem_code_has_a_section_in_problems_md() -> None:
    missing = sorted((_error_codes() | GENERIC_CODES) - _documented_codes())
    assert missing == [], f"docs/problems.md lacks a '## <code>' section for: {', '.join(missing)}"


def test_problem_codes_are_valid_anchors() -> None:
    # The code is used verbatim as the URI fragment: keep it to lower-case snake_case.
    bad = sorted(
        code for code in _error_codes() | GENERIC_CODES if not re.fullmatch(r"[a-z][a-z0-9_]*", code)
    )
    assert bad == []
