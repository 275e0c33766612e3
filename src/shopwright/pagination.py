"""Opaque keyset cursors for list endpoints."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from shopwright.db import MAX_ID
from shopwright.errors import InvalidRequest

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
    if isinstance(after, bool) or not isinstance(after, int) or not 0 < after <= MAX_ID:
        raise InvalidCursor("The cursor is not one this API returned")
    return after
