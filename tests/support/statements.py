"""Counting the SQL statements a request sends (the query-count tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event


class StatementLog:
    """Records every SQL statement the engines send while it is active."""

    def __init__(self, engines: list[Engine]) -> None:
        self.engines = engines
        self.statements: list[str] = []

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def count(self, action: Callable[[], Any]) -> int:
        """Run `action` and return how many statements it sent."""
        self.statements = []
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._record)
        try:
            action()
        finally:
            for engine in self.engines:
                event.remove(engine, "before_cursor_execute", self._record)
        return len(self.statements)
