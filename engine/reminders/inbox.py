"""Reading notices: a person's inbox (unread first), marking one read, and an item's notices."""
from __future__ import annotations

import orjson
import sqlalchemy as sa

from engine import paging
from engine.clock import Clock, rfc3339
from engine.errors import NotFound
from engine.models import Item
from engine.reminders.models import Notice, NoticeRecipient

_notices, _recipients, _items = Notice.__table__, NoticeRecipient.__table__, Item.__table__
_UNREAD = sa.case((_recipients.c.read_at.is_(None), 1), else_=0)


def _notice_view(row: sa.RowMapping, tz) -> dict:
    issued_on = row["issued_at"].astimezone(tz).date()
    return {"kind": row["kind"], "level": row["level"], "state": row["state"],
            "deadline": row["deadline"].isoformat(), "overdue_days": max((issued_on - row["deadline"]).days, 0),
            "due_at": rfc3339(row["due_at"]), "issued_at": rfc3339(row["issued_at"])}


def inbox(conn: sa.Connection, username: str, *, tz, limit: int, cursor: str | None,
          unread_only: bool = False) -> tuple[list[dict], str | None]:
    """One page of ``username``'s notices, unread first, newest first within each; the next page's cursor."""
    fingerprint = paging.query_fingerprint({"inbox": username, "unread_only": unread_only})
    query = (sa.select(_recipients.c.id.label("entry_id"), _recipients.c.read_at, _UNREAD.label("unread"),
                       _notices.c.id.label("notice_id"), _notices.c.item_id, _notices.c.kind, _notices.c.level,
                       _notices.c.state, _notices.c.deadline, _notices.c.due_at, _notices.c.issued_at,
                       _items.c.number, _items.c.title)
             .select_from(_recipients.join(_notices, _notices.c.id == _recipients.c.notice_id)
                          .join(_items, _items.c.id == _notices.c.item_id))
             .where(_recipients.c.username == username))
    if unread_only:
        query = query.where(_recipients.c.read_at.is_(None))
    if cursor:
        unread, last_id = paging.decode(cursor, fingerprint, (int, int))
        query = query.where(sa.or_(_UNREAD < unread, sa.and_(_UNREAD == unread, _recipients.c.id < last_id)))
    query = query.order_by(_UNREAD.desc(), _recipients.c.id.desc()).limit(limit + 1)
    rows = conn.execute(query).mappings().all()
    page = [{"id": r["entry_id"], "notice": r["notice_id"], "item": r["item_id"], "number": r["number"], "title": r["title"], **_notice_view(r, tz),
             "read": r["read_at"] is not None, "read_at": rfc3339(r["read_at"]) if r["read_at"] else None}
            for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = paging.encode([int(last["unread"]), last["entry_id"]], fingerprint)
    return page, next_cursor


def mark_read(conn: sa.Connection, username: str, entry_id: int, *, clock: Clock) -> dict:
    """Mark one inbox entry of ``username`` read (again is harmless); NotFound for anyone else's."""
    row = conn.execute(sa.select(_recipients.c.id, _recipients.c.read_at)
                       .where(_recipients.c.id == entry_id, _recipients.c.username == username)).first()
    if row is None:
        raise NotFound(f"reminder {entry_id} not found")
    read_at = row.read_at
    if read_at is None:
        read_at = clock.now()
        conn.execute(_recipients.update().where(_recipients.c.id == entry_id).values(read_at=read_at))
    return {"id": entry_id, "read": True, "read_at": rfc3339(read_at)}


def item_notices(conn: sa.Connection, item_id: str, *, tz) -> list[dict]:
    """Every notice issued for an item, oldest first, with its recipients."""
    rows = conn.execute(sa.select(_notices).where(_notices.c.item_id == item_id)
                        .order_by(_notices.c.issued_at, _notices.c.id)).mappings().all()
    return [{"id": r["id"], "rule": r["rule"], "status": r["status"], **_notice_view(r, tz),
             "recipients": orjson.loads(r["recipients"])} for r in rows]


def unread_count(conn: sa.Connection, username: str) -> int:
    """How many of ``username``'s notices are unread."""
    return conn.execute(sa.select(sa.func.count()).select_from(_recipients)
                        .where(_recipients.c.username == username, _recipients.c.read_at.is_(None))).scalar_one()



def mark_all_read(conn: sa.Connection, username: str, *, clock: Clock) -> int:
    """Mark every unread inbox entry of ``username`` read at once; how many were unread."""
    done = conn.execute(_recipients.update()
                        .where(_recipients.c.username == username, _recipients.c.read_at.is_(None))
                        .values(read_at=clock.now()))
    return done.rowcount
