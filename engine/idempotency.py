"""Idempotency keys: a retried request gets the first response, inside the same write transaction.

The stored response is written in the transaction that made the change, so a key can never be recorded
without its change or the change without its key. A second request with the same key blocks on the
write (SQLite's writer lock, PostgreSQL's primary key) and then finds the stored answer.
"""
from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import sqlalchemy as sa

from engine.canonical import sha256_hex
from engine.clock import Clock
from engine.errors import IdempotencyInFlight, IdempotencyMismatch
from engine.models import IdempotencyKey

_keys = IdempotencyKey.__table__
_LOOKUP = sa.select(_keys).where(_keys.c.user_id == sa.bindparam("u"), _keys.c.key == sa.bindparam("k"))


@dataclass
class StoredResponse:
    """What was answered the first time."""

    status: int
    headers: dict[str, str]
    body: bytes


def request_hash(method: str, path: str, body: bytes) -> str:
    """Identity of a request for key reuse checks: method, path and exact body."""
    return sha256_hex(method.encode() + b" " + path.encode() + b"\n" + body)


def lookup(conn: sa.Connection, user_id: int, key: str, req_hash: str) -> StoredResponse | None:
    """The stored response for this key, None if unused; IdempotencyMismatch if used for another request."""
    row = conn.execute(_LOOKUP, {"u": user_id, "k": key}).first()
    if row is None:
        return None
    if row.request_hash != req_hash:
        raise IdempotencyMismatch("this Idempotency-Key was already used with a different request")
    return StoredResponse(row.status, json.loads(row.headers), bytes(row.body))


def save(conn: sa.Connection, clock: Clock, user_id: int, key: str, req_hash: str, response: StoredResponse) -> None:
    """Record the response in the current transaction."""
    conn.execute(_keys.insert().values(user_id=user_id, key=key, request_hash=req_hash, status=response.status,
                                       headers=json.dumps(response.headers), body=response.body,
                                       created_at=clock.now()))


class InFlight:
    """Keys being processed in this process right now: a concurrent repeat answers 409 at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: set[tuple[int, str]] = set()

    @contextmanager
    def hold(self, user_id: int, key: str) -> Iterator[None]:
        """Hold the key while the block runs; IdempotencyInFlight if another request holds it."""
        entry = (user_id, key)
        with self._lock:
            if entry in self._keys:
                raise IdempotencyInFlight("a request with this Idempotency-Key is still being processed")
            self._keys.add(entry)
        try:
            yield
        finally:
            with self._lock:
                self._keys.discard(entry)
