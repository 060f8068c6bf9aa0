"""Writing responses: JSON bytes, and the write path with Idempotency-Key replay."""
from __future__ import annotations

import re
from typing import Callable

import orjson
import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.responses import Response

from api import dbcalls
from engine import idempotency
from engine.accounts import Actor
from engine.canonical import canonical_bytes
from engine.idempotency import StoredResponse
from engine.runtime import Runtime

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,200}$"  # visible ASCII; also the documented header schema
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
ETAG_PATTERN = r'"([0-9]{1,18})"'  # an item ETag, quoted as RFC 9110 says; If-Match takes it or '*'
_ETAG = re.compile(ETAG_PATTERN)
IN_FLIGHT = idempotency.InFlight()


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response from plain data."""
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


async def read_json(rt: Runtime, body_of: Callable[[sa.Connection], object]) -> Response:
    """``body_of(conn)`` in a read transaction on the store's read threads, answered as JSON."""

    def read() -> Response:
        with rt.store.read() as conn:
            return json_response(body_of(conn))

    return await dbcalls.in_reader(rt, read)


def _to_response(stored: StoredResponse) -> Response:
    return Response(stored.body, status_code=stored.status, media_type="application/json", headers=stored.headers)


def parse_if_match(value: str | None) -> int | None:
    """The version named by an If-Match header ('"3"'), None for absent or '*'."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip()
    if text.startswith("W/"):
        raise HTTPException(400, 'If-Match compares strong ETags only: send "3", not W/"3"')
    match = _ETAG.fullmatch(text)  # [0-9], not isdigit(), which passes '²', which int() refuses
    if match is None:
        raise HTTPException(400, 'If-Match must be an item ETag such as "3" (in double quotes) or *')
    return int(match[1])


def write(rt: Runtime, actor: Actor, *, key: str | None, method: str, path: str, body: object,
          work: Callable[[sa.Connection], StoredResponse],
          redact: Callable[[StoredResponse], StoredResponse] | None = None) -> Response:
    """Run ``work`` in one write transaction; with an Idempotency-Key, store or replay its response.

    ``redact`` makes the stored copy of a response that carries a secret shown only once (a new token):
    a retry then gets the first answer without the secret, never a second copy of it from the database.
    """
    if key is None:
        with rt.store.write() as conn:
            return _to_response(work(conn))
    if not _KEY.match(key):
        raise HTTPException(400, "Idempotency-Key must be 1-200 visible ASCII characters")
    req_hash = idempotency.request_hash(method, path, canonical_bytes(body))
    with IN_FLIGHT.hold(actor.user_id, key):
        try:
            with rt.store.write() as conn:
                stored = idempotency.lookup(conn, actor.user_id, key, req_hash)
                if stored is None:
                    stored = work(conn)
                    kept = redact(stored) if redact else stored
                    idempotency.save(conn, rt.clock, actor.user_id, key, req_hash, kept)
        except sa.exc.IntegrityError:
            # Another process stored this key first (PostgreSQL): our transaction rolled back; replay theirs.
            with rt.store.read() as conn:
                stored = idempotency.lookup(conn, actor.user_id, key, req_hash)
            if stored is None:
                raise
    return _to_response(stored)


def without_token(stored: StoredResponse) -> StoredResponse:
    """The stored copy of a token-issuing response: the token replaced by a note that it was shown once."""
    body = orjson.loads(stored.body)
    body["token"] = None
    body["token_note"] = "shown only in the first response; issue a new token if it was lost"
    return StoredResponse(stored.status, stored.headers, orjson.dumps(body))


def stored_json(payload: object, status: int = 200, headers: dict | None = None) -> StoredResponse:
    """A response as it is stored for replay."""
    return StoredResponse(status, headers or {}, orjson.dumps(payload))
