"""The one canonical JSON used for hashes: sorted keys, no spaces, UTF-8 unescaped, no floats.

A verifier written from this docstring alone must produce the same bytes: ``json.dumps(value,
sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")``, where times are already
strings in the form ``2026-03-02T01:00:00.000000Z`` and dates ``YYYY-MM-DD``.

orjson writes those bytes for every value it takes, at a fraction of the cost (a record is hashed on every
transition); what it refuses (integers past 64 bits, nesting past 255 levels) goes to that reference encoder.
tests/engine/test_canonical_encoder.py holds the two to the same bytes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json

import orjson

from engine.clock import rfc3339

_SCALARS = (str, int, bool, type(None))


def plain(value: object) -> object:
    """``value`` with dates and times as their fixed strings, ready for canonical JSON (no floats)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical JSON")
    if isinstance(value, dt.datetime):
        return rfc3339(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} in canonical JSON")


def _reference(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_text(value: object) -> str:
    """The canonical JSON text of ``value`` (dates and times converted to their fixed string forms)."""
    return canonical_bytes(value).decode("utf-8")


def canonical_bytes(value: object) -> bytes:
    """The canonical JSON of ``value`` as UTF-8 bytes."""
    return plain_canonical_bytes(plain(value))


def plain_canonical_bytes(value: object) -> bytes:
    """The canonical JSON of a value that is already plain JSON (as :func:`plain` leaves it), without walking it."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _reference(value).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256."""
    return hashlib.sha256(data).hexdigest()
