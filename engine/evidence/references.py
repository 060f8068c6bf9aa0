"""A transition's evidence as it is recorded: declared files as given, stored files filled in and checked."""
from __future__ import annotations

import sqlalchemy as sa

from engine.errors import InvalidInput
from engine.evidence.files import uploaded_names, uploads
from engine.inputs import Evidence


def recorded_evidence(conn: sa.Connection, item_id: str, entries: list[Evidence]) -> list[dict]:
    """Each entry as the history records it; InvalidInput for a stored file not uploaded for this item, or
    one whose given name, size or media type is not the stored one's."""
    out = []
    for n, entry in enumerate(entries):
        if not entry.stored and not _uploaded_as_named(conn, item_id, entry):
            # A file kept elsewhere, exactly as given ({name, sha256, url?}), as records always held it.
            out.append(entry.model_dump(exclude_none=True, exclude={"stored"}))
            continue
        out.append(_stored_entry(conn, item_id, entry, f"evidence[{n}]"))
    return out


def _uploaded_as_named(conn: sa.Connection, item_id: str, entry: Evidence) -> bool:
    """Whether a plain {name, sha256} names a file uploaded for this item under that name: API.md's short form
    of a reference, recorded as one (with size and media type) so the bundle carries the file."""
    if entry.url is not None:
        return False
    return entry.name in uploaded_names(conn, item_id, entry.sha256)


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
