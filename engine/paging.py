"""Opaque, checked page cursors for paginated lists (not database cursors): the position of the last row and a
fingerprint of the query."""
from __future__ import annotations

import base64
import binascii
import json

from engine.canonical import canonical_bytes, sha256_hex
from engine.errors import InvalidInput


def query_fingerprint(filters: dict) -> str:
    """A short hash of the filters, so a cursor cannot be replayed against another query."""
    return sha256_hex(canonical_bytes(filters))[:16]


def encode(position: list, fingerprint: str) -> str:
    """The cursor for the page after ``position``."""
    raw = json.dumps({"p": position, "q": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, fingerprint: str, shape: tuple[type, ...]) -> list:
    """The position inside ``cursor``; a forged, truncated or foreign cursor is an InvalidInput."""
    bad = InvalidInput("cursor is not valid for this query (use next_cursor from the previous page "
                       "with the same filters)", field="cursor")
    if len(cursor) > 512:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or data.get("q") != fingerprint:
        raise bad
    position = data.get("p")
    if not isinstance(position, list) or len(position) != len(shape):
        raise bad
    if not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(position, shape)):
        raise bad
    if not all(_storable(v) for v in position if isinstance(v, str)):
        raise bad
    return position


def _storable(text: str) -> bool:
    """No cursor ever holds NUL or a lone surrogate, and neither store accepts them as a query parameter."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text
