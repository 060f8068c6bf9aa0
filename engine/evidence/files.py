"""Uploads recorded per item, and the scope rule for them: whoever may see and act on an item in its unit."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor
from engine.errors import Forbidden, NotFound
from engine.evidence.models import EvidenceFile
from engine.evidence.storage import Staged, Stored
from engine.store.fastpath import Prebuilt

_files = EvidenceFile.__table__
# Every transition that declares a file asks this (engine.evidence.references): prebuilt, run on the cursor.
_UPLOADED_NAMES = Prebuilt(sa.select(_files.c.name).where(_files.c.item_id == sa.bindparam("item_id"),
                                                          _files.c.sha256 == sa.bindparam("sha256")))


def item_for_evidence(conn: sa.Connection, actor: Actor, item_ref: str, *, acting: bool) -> dict:
    """The item (by id or number) whose evidence ``actor`` reads, or adds to when ``acting``.

    Outside the actor's read scope it is NotFound, the same as a missing item; adding needs the write
    scope of the actor's own roles too (an auditor or admin acts everywhere, others in their subtree).
    """
    item = itemrows.load_item(conn, item_ref)
    if item is None or not actor.can_see(item["unit_path"]):
        raise NotFound(f"item {item_ref} not found")
    if acting and not actor.can_act(actor.roles, item["unit_path"]):
        raise Forbidden(f"item {item['number']} is outside the unit scope in which {actor.username} may add "
                        f"evidence", reason="unit_scope")
    return item


def record_upload(conn: sa.Connection, *, item_id: str, stored: Stored, name: str, actor: Actor,
                  now: dt.datetime) -> dict:
    """Record that ``stored`` was uploaded for the item under ``name``; return the file as the API shows it."""
    conn.execute(_files.insert().values(item_id=item_id, sha256=stored.sha256, name=name, size=stored.size,
                                        media_type=stored.media_type, uploaded_by=actor.username, uploaded_at=now))
    return {"name": name, "sha256": stored.sha256, "size": stored.size, "media_type": stored.media_type}


def _public(row) -> dict:
    return {"name": row.name, "sha256": row.sha256, "size": row.size, "media_type": row.media_type,
            "uploaded_by": row.uploaded_by, "uploaded_at": row.uploaded_at}


def uploads(conn: sa.Connection, item_id: str, sha256: str | None = None) -> list[dict]:
    """The item's uploads (of one file when ``sha256`` is given), newest first."""
    query = sa.select(_files).where(_files.c.item_id == item_id)
    if sha256 is not None:
        query = query.where(_files.c.sha256 == sha256)
    return [_public(row) for row in conn.execute(query.order_by(_files.c.id.desc()))]


def uploaded_names(conn: sa.Connection, item_id: str, sha256: str) -> set[str]:
    """The names under which the file ``sha256`` was uploaded for the item (empty if it never was)."""
    return {row[0] for row in _UPLOADED_NAMES.rows(conn, {"item_id": item_id, "sha256": sha256})}


def stored_hashes(conn: sa.Connection) -> list[str]:
    """Every stored file's SHA-256 that some upload recorded, once each, in order."""
    return [row[0] for row in conn.execute(sa.select(_files.c.sha256).distinct().order_by(_files.c.sha256))]


def record_staged(conn: sa.Connection, staged: Staged, *, item_id: str, name: str, actor: Actor,
                  now: dt.datetime) -> dict:
    """Record the upload, then keep its file, inside the caller's write transaction: an upload refused before
    this (a reused idempotency key) or by it keeps no file that no row names."""
    kept = record_upload(conn, item_id=item_id, stored=staged.stored, name=name, actor=actor, now=now)
    staged.keep()
    return kept
