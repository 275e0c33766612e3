"""DML statements built once stay Core statements (docs/architecture.md, Hot paths).

One mapped attribute anywhere in an UPDATE, DELETE or INSERT (a subquery's WHERE included) makes it an
ORM statement, which `session.execute` runs through the ORM's bulk path: a cache key and a session
synchronisation plan on every call, for the same SQL. Nothing else would notice.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

from sqlalchemy import column, table, update
from sqlalchemy.sql.dml import UpdateBase

import shopwright
from shopwright.catalog.models import Product


def _module_statements() -> Iterator[tuple[str, UpdateBase]]:
    """Every DML statement held by a module constant (or in a dict constant) of the package."""
    for info in pkgutil.walk_packages(shopwright.__path__, "shopwright."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            candidates: list[tuple[str, Any]] = (
                [(f"{name}[{key!r}]", item) for key, item in value.items()]
                if isinstance(value, dict)
                else [(name, value)]
            )
            for label, candidate in candidates:
                if isinstance(candidate, UpdateBase):
                    yield f"{info.name}.{label}", candidate


def _is_orm(statement: UpdateBase) -> bool:
    # SQLAlchemy marks a statement that holds a mapped attribute with the "orm" compile-state plugin.
    return statement._propagate_attrs.get("compile_state_plugin") == "orm"


def test_the_check_tells_an_orm_statement_from_a_core_one() -> None:
    stock = table("stock_levels", column("variant_id"), column("reserved"))
    assert not _is_orm(update(stock).values(reserved=1))
    assert _is_orm(update(stock).where(stock.c.variant_id == Product.id).values(reserved=1))


def test_dml_statements_built_once_are_core_statements() -> None:
    statements = dict(_module_statements())
    assert "shopwright.inventory.service._RESERVE" in statements  # the walk finds them
    assert [name for name, statement in statements.items() if _is_orm(statement)] == []
