"""Keyset pagination: opaque cursors, and the page of a statement after one.

A list fetches one row more than it shows: that row tells whether a next page exists, and the last row
shown becomes the cursor to it. Every list of the API pages this way (`keyset_page`); the product list,
with its sorts of several keys, builds its statement itself and cuts it with `page_after`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from shopwright.db import is_row_id
from shopwright.errors import InvalidRequest

T = TypeVar("T")

# The longest cursor this API makes is far shorter (a few keys of a sort); a longer one was tampered with.
MAX_CURSOR_LENGTH = 500


class InvalidCursor(InvalidRequest):
    code = "invalid_cursor"
    title = "Invalid cursor"


def encode_cursor(position: dict[str, Any]) -> str:
    """Encode a keyset position as an opaque URL-safe string."""
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, keys: tuple[str, ...]) -> dict[str, Any]:
    """Decode a cursor made by `encode_cursor`; raise InvalidCursor if it was tampered with."""
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursor("The cursor is not one this API returned")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise InvalidCursor("The cursor is not one this API returned") from error
    if not isinstance(position, dict) or set(position) != set(keys):
        raise InvalidCursor("The cursor is not one this API returned")
    return position


def decode_id_cursor(cursor: str) -> int:
    """Decode an `{"id": n}` cursor; a tampered id (not an int in 1..MAX_ID) raises InvalidCursor."""
    after = decode_cursor(cursor, keys=("id",))["id"]
    # It must not reach SQL: a string, a bool or a huge number there is a 500 (or silently ignored).
    if isinstance(after, bool) or not isinstance(after, int) or not is_row_id(after):
        raise InvalidCursor("The cursor is not one this API returned")
    return after


@dataclass(frozen=True)
class KeysetPage(Generic[T]):
    """One page of a list and the cursor to the next (None on the last page)."""

    items: list[T]
    next_cursor: str | None = None


def page_after(rows: Sequence[T], limit: int, position: Callable[[T], dict[str, Any]]) -> KeysetPage[T]:
    """Cut `limit + 1` fetched rows into a page; `position` gives the cursor keys of its last row."""
    if len(rows) <= limit:
        return KeysetPage(list(rows))
    return KeysetPage(list(rows[:limit]), encode_cursor(position(rows[limit - 1])))


def keyset_page(
    session: Session,
    statement: Select[*tuple[Any, ...]],
    key: ColumnElement[int] | InstrumentedAttribute[int],
    *,
    limit: int,
    cursor: str | None,
    ascending: bool = False,
) -> KeysetPage[Any]:
    """Return the page of `statement` after `cursor`, ordered by the unique integer column `key`.

    A statement of one mapped class pages its objects, any other its rows; either way `key` is read off
    the last one by the column's name (label a joined key as the attribute it is read by).
    """
    if cursor:
        after = decode_id_cursor(cursor)
        statement = statement.where(key > after if ascending else key < after)
    statement = statement.order_by(key.asc() if ascending else key.desc()).limit(limit + 1)
    result = session.execute(statement)
    rows = list(result.scalars() if _selects_one_entity(statement) else result)
    name = str(key.key)
    return page_after(rows, limit, lambda row: {"id": getattr(row, name)})


def _selects_one_entity(statement: Select[*tuple[Any, ...]]) -> bool:
    described = statement.column_descriptions
    return len(described) == 1 and described[0]["entity"] is described[0]["expr"]
