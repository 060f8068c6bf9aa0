"""A transition's evidence as it is recorded: declared files as given, stored files filled in and checked."""
from __future__ import annotations

import sqlalchemy as sa

from engine.errors import InvalidInput
from engine.evidence.files import uploads
from engine.schemas import Evidence


def recorded_evidence(conn: sa.Connection, item_id: str, entries: list[Evidence]) -> list[dict]:
    """Each entry as the history records it; InvalidInput for a stored file not uploaded for this item, or
    one whose given name, size or media type is not the stored one's."""
    out = []
    for n, entry in enumerate(entries):
        if not entry.stored:
            # Exactly today's form ({name, sha256, url?}): records written before stored files hash the same.
            out.append(entry.model_dump(exclude_none=True, exclude={"stored"}))
            continue
        out.append(_stored_entry(conn, item_id, entry, f"evidence[{n}]"))
    return out


def _stored_entry(conn: sa.Connection, item_id: str, entry: Evidence, where: str) -> dict:
    found = uploads(conn, item_id, entry.sha256)
    if not found:
        raise InvalidInput(f"{where}: no file with SHA-256 {entry.sha256} was uploaded for this item; upload it "
                           f"with POST /api/v1/items/{{id}}/evidence first", field=f"{where}.sha256")
    latest = found[0]
    names = {f["name"] for f in found}
    if entry.name is not None and entry.name not in names:
        raise InvalidInput(f"{where}: the file {entry.sha256[:12]}... was uploaded for this item as "
                           f"{', '.join(sorted(names))}, not {entry.name!r}", field=f"{where}.name")
    for key in ("size", "media_type"):
        given = getattr(entry, key)
        if given is not None and given != latest[key]:
            raise InvalidInput(f"{where}: the stored file's {key} is {latest[key]!r}, not {given!r}",
                               field=f"{where}.{key}")
    return {"name": entry.name or latest["name"], "sha256": entry.sha256, "size": latest["size"],
            "media_type": latest["media_type"], "stored": True}
