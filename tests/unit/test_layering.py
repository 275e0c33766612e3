"""The layering rules of docs/architecture.md, checked by reading every import in src/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "shopwright"
# Files allowed to import Flask: the web edge (limits.py: request limits applied before any view; web.py:
# what routes share), and worker.py (Celery tasks run in the app context).
# db.py only inside get_session/get_settings.
FLASK_ALLOWED = {"app.py", "cli.py", "db.py", "accounts/auth.py", "worker.py", "limits.py", "web.py"}
# Lower rank = lower layer. A domain's non-route modules import only lower-ranked domains.
RANKS = {
    "accounts": 0,
    "catalog": 1,
    "inventory": 2,
    "cart": 3,
    "payments": 3,
    "promotions": 3,
    "orders": 4,
    "notifications": 5,
    "admin": 5,
}


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _relative(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_only_the_web_edge_imports_flask(path: Path) -> None:
    relative = _relative(path)
    if relative in FLASK_ALLOWED or path.name == "routes.py":
        return
    flask_imports = {name for name in _imports(path) if name.split(".")[0].startswith("flask")}
    assert not flask_imports, (
        f"{relative} imports {sorted(flask_imports)}; only routes.py and the app edge may"
    )


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_domains_only_depend_on_lower_layers(path: Path) -> None:
    relative = _relative(path)
    domain = relative.split("/")[0]
    if domain not in RANKS or path.name == "routes.py":
        return
    for name in _imports(path):
        parts = name.split(".")
        if parts[0] != "shopwright" or len(parts) < 2 or parts[1] not in RANKS or parts[1] == domain:
            continue
        assert RANKS[parts[1]] < RANKS[domain], f"{relative} imports {name}: {parts[1]} is not below {domain}"


def test_nothing_imports_notifications_or_admin_but_the_app() -> None:
    for path in _modules():
        relative = _relative(path)
        if relative == "app.py" or relative.split("/")[0] in ("notifications", "admin"):
            continue
        top = {n for n in _imports(path) if n.startswith(("shopwright.notifications", "shopwright.admin"))}
        assert not top, f"{relative} imports {sorted(top)}"


def test_only_routes_use_the_web_helpers() -> None:
    for path in _modules():
        relative = _relative(path)
        if path.name == "routes.py" or relative in ("app.py", "web.py"):
            continue
        imports = _imports(path)
        assert "shopwright.web" not in imports, f"{relative} imports shopwright.web; services don't know HTTP"


def test_no_grab_bag_modules() -> None:
    banned = {"utils.py", "helpers.py", "common", "core"}
    assert not [p for p in SRC.rglob("*") if p.name in banned]
