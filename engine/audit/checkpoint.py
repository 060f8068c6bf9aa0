"""Signed checkpoints: every item's chain head at a moment, digested, chained to the checkpoint before, signed.

A checkpoint's ``body`` (canonical JSON, engine/canonical.py) is
``{"format": "closeloop-checkpoint/2", "number", "time", "items", "records", "heads_digest", "prev", "key_id",
"admin_log_entries", "admin_log_head"}`` (format 1, made before the admin log existed, lacks the last two);
its hash is SHA-256 over those bytes and its signature is Ed25519 over the same bytes. ``heads_digest`` is
SHA-256 over the canonical JSON array of ``[item_id, seq, hash]`` of every item's last history record,
sorted by item id (code point order); ``records`` is the sum of those seqs; ``admin_log_entries`` and
``admin_log_head`` are the admin log's last entry's seq and hash (0 and 64 zeros when it is empty).
docs/AUDIT.md says the same.
"""
from __future__ import annotations

import datetime as dt
import hashlib

import orjson
import sqlalchemy as sa

from engine.audit import admin_log
from engine.audit.keys import KeyRing, SigningKey, register
from engine.audit.models import AuditCheckpoint, AuditCheckpointHead
from engine.canonical import canonical_bytes, sha256_hex
from engine.clock import rfc3339
from engine.errors import IntegrityViolation
from engine.history import GENESIS
from engine.models import Outbox

FORMAT = "closeloop-checkpoint/2"
# Every body format a verifier accepts, with the keys it has: format 1 checkpoints, made before the admin log
# existed, keep verifying.
BODY_KEYS = {
    "closeloop-checkpoint/1": ("format", "number", "time", "items", "records", "heads_digest", "prev", "key_id"),
    "closeloop-checkpoint/2": ("format", "number", "time", "items", "records", "heads_digest", "prev", "key_id",
                               "admin_log_entries", "admin_log_head"),
}
EVENT = "audit.checkpoint"
CHUNK = 2000
# The PostgreSQL advisory lock that makes checkpoints one at a time (any fixed number nothing else uses).
CHECKPOINT_LOCK = 0x636C6370  # "clcp"
_checkpoints = AuditCheckpoint.__table__
_heads = AuditCheckpointHead.__table__
_outbox = Outbox.__table__


def _collate(conn: sa.Connection) -> str:
    # Code point order on both stores: PostgreSQL's default collation would sort by the locale's rules.
    return ' COLLATE "C"' if conn.dialect.name == "postgresql" else ""


def _current_heads(conn: sa.Connection, after: str, limit: int) -> list[tuple[str, int, str]]:
    c = _collate(conn)
    rows = conn.execute(sa.text(
        f"SELECT h.item_id, h.seq, h.hash FROM history h WHERE h.item_id{c} > :after AND h.seq = "
        f"(SELECT MAX(h2.seq) FROM history h2 WHERE h2.item_id = h.item_id) ORDER BY h.item_id{c} LIMIT :n"),
        {"after": after, "n": limit})
    return [tuple(r) for r in rows]


def _covered_heads(conn: sa.Connection, after: str, upto: str | None) -> dict[str, tuple[int, str]]:
    """Each item's head as the latest checkpoint covering it recorded it, for item ids in (after, upto]."""
    c = _collate(conn)
    bound = f" AND c.item_id{c} <= :upto" if upto is not None else ""
    rows = conn.execute(sa.text(
        f"SELECT c.item_id, c.seq, c.hash FROM audit_checkpoint_heads c WHERE c.item_id{c} > :after{bound} AND "
        f"c.checkpoint = (SELECT MAX(c2.checkpoint) FROM audit_checkpoint_heads c2 WHERE c2.item_id = c.item_id)"),
        {"after": after, "upto": upto})
    return {r[0]: (r[1], r[2]) for r in rows}


def _regressed(item_id: str, covered: tuple[int, str], now: tuple[int, str] | None) -> str | None:
    if now is None:
        return f"item {item_id} was covered by a checkpoint (seq {covered[0]}) but has no history now"
    if now[0] < covered[0] or (now[0] == covered[0] and now[1] != covered[1]):
        return f"item {item_id}'s history no longer holds the head a checkpoint covered (seq {covered[0]})"
    return None


def _digest_and_delta(conn: sa.Connection, number: int) -> tuple[str, int, int]:
    """Stream every head in item order: digest them, store those changed since the last checkpoint."""
    digest, items, records, after, first = hashlib.sha256(b"["), 0, 0, "", True
    while True:
        chunk = _current_heads(conn, after, CHUNK)
        # The last chunk reaches to the end: an item covered before whose id sorts after every item left is gone too.
        upto = chunk[-1][0] if len(chunk) == CHUNK else None
        covered = _covered_heads(conn, after, upto)
        delta = []
        for item_id, seq, head in chunk:
            digest.update((b"" if first else b",") + canonical_bytes([item_id, seq, head]))
            first = False
            items, records = items + 1, records + seq
            before = covered.pop(item_id, None)
            if before is not None and (problem := _regressed(item_id, before, (seq, head))):
                raise IntegrityViolation(f"checkpoint refused: {problem}; run `closeloop audit verify`")
            if before != (seq, head):
                delta.append({"checkpoint": number, "item_id": item_id, "seq": seq, "hash": head})
        for item_id, before in covered.items():  # covered once, gone from the history now
            raise IntegrityViolation(f"checkpoint refused: {_regressed(item_id, before, None)}; "
                                     f"run `closeloop audit verify`")
        if delta:
            conn.execute(_heads.insert(), delta)
        if len(chunk) < CHUNK:
            digest.update(b"]")
            return digest.hexdigest(), items, records
        after = upto


def _admin_log_claim(conn: sa.Connection, last_body: str | None) -> tuple[int, str]:
    """The admin log's (last seq, head hash) now, refusing when it no longer holds what the last checkpoint covered."""
    entries, head = admin_log.last_entry(conn)
    try:
        before = orjson.loads(last_body) if last_body is not None else {}
    except orjson.JSONDecodeError:
        before = {}
    before = before if isinstance(before, dict) else {}
    covered, covered_head = before.get("admin_log_entries"), before.get("admin_log_head")
    if type(covered) is int and isinstance(covered_head, str) and (
            entries < covered or admin_log.hash_at(conn, covered) != covered_head):
        raise IntegrityViolation(f"checkpoint refused: the admin log no longer holds entry {covered} as the last "
                                 f"checkpoint covered it; run `closeloop audit verify`")
    return entries, head


def document(body_text: str, signature: str, public_key: str | None = None) -> dict:
    """The checkpoint as the JSON document the API serves and ``--trusted-checkpoint`` takes."""
    doc = {"checkpoint": orjson.loads(body_text), "hash": sha256_hex(body_text.encode("utf-8")),
           "signature": signature}
    if public_key is not None:
        doc["public_key"] = public_key
    return doc


def make_checkpoint(conn: sa.Connection, *, key: SigningKey, now: dt.datetime,
                    unless_since: dt.datetime | None = None) -> dict | None:
    """Compute, sign and store the next checkpoint in ``conn``'s transaction; announce it through the outbox.

    With ``unless_since``, nothing is made (None) when a checkpoint was made at or after that time.
    """
    if conn.dialect.name == "postgresql":
        # One checkpoint at a time: two would both take the same number and the same previous hash. An
        # advisory lock, not LOCK TABLE: the application role may only INSERT into the table, which allows no
        # stronger table lock than ROW EXCLUSIVE (docs/POSTGRES.md).
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHECKPOINT_LOCK})
    if unless_since is not None and made_since(conn, unless_since):
        return None
    register(conn, key, now)
    last = conn.execute(sa.select(_checkpoints.c.number, _checkpoints.c.hash, _checkpoints.c.body)
                        .order_by(_checkpoints.c.number.desc()).limit(1)).first()
    number = 1 if last is None else last.number + 1
    digest, items, records = _digest_and_delta(conn, number)
    log_entries, log_head = _admin_log_claim(conn, None if last is None else last.body)
    body = {"format": FORMAT, "number": number, "time": rfc3339(now), "items": items, "records": records,
            "heads_digest": digest, "prev": GENESIS if last is None else last.hash, "key_id": key.key_id,
            "admin_log_entries": log_entries, "admin_log_head": log_head}
    text = canonical_bytes(body).decode("utf-8")
    signature = key.sign(text.encode("utf-8"))
    doc = document(text, signature, key.public_hex)
    conn.execute(_checkpoints.insert().values(number=number, hash=doc["hash"], key_id=key.key_id, body=text,
                                              signature=signature, created_at=now))
    payload = {"event": EVENT, **doc}
    conn.execute(_outbox.insert().values(event=EVENT, item_id=None, payload=orjson.dumps(payload).decode(),
                                         batch=None, created_at=now))
    return doc


def checkpoint_now(rt) -> dict:
    """Make a checkpoint with the deployment's current key (made on first use) in its own transaction."""
    key = KeyRing(rt.settings.audit_keys_path).current()
    with rt.store.write() as conn:
        return make_checkpoint(conn, key=key, now=rt.clock.now())


def daily_checkpoint(rt) -> dict | None:
    """Today's checkpoint, unless one was made since local midnight (by another process, or on demand)."""
    now = rt.clock.now()
    midnight = dt.datetime.combine(rt.local_date(now), dt.time(), tzinfo=rt.settings.tz)
    key = KeyRing(rt.settings.audit_keys_path).current()
    with rt.store.write() as conn:
        return make_checkpoint(conn, key=key, now=now, unless_since=midnight)


def made_since(conn: sa.Connection, since: dt.datetime) -> bool:
    """Whether a checkpoint was made at or after ``since`` (the daily job makes one a day)."""
    return conn.execute(sa.select(_checkpoints.c.number).where(_checkpoints.c.created_at >= since).limit(1)
                        ).first() is not None


def list_checkpoints(conn: sa.Connection, *, limit: int, before: int | None = None) -> list[dict]:
    """Checkpoints newest first (numbers below ``before`` when given), each as its JSON document."""
    query = sa.select(_checkpoints.c.number, _checkpoints.c.body, _checkpoints.c.signature)
    if before is not None:
        query = query.where(_checkpoints.c.number < before)
    rows = conn.execute(query.order_by(_checkpoints.c.number.desc()).limit(limit))
    return [document(r.body, r.signature) for r in rows]
