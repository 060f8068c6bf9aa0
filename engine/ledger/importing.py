"""Importing a ledger: every row checked, the rows already known set aside, the rest registered in one go.

A row is recognised as an item already here by its source and 外部编号 (the external reference). A row
without 外部编号 is recognised by its 编号 when an item of that number, of the same source and also without
an external reference, exists. A row with neither cannot be recognised: importing it again registers it again.
A recognised row is set aside even when its other cells would not pass as a new item's (a state of another
workflow, a unit outside the importer's): nothing of it is written, so an exported ledger always imports back.
Its cells are compared with its item all the same (engine.ledger.differences), and those that differ reported.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor
from engine.errors import Forbidden, InvalidInput, LedgerTooLarge
from engine.inputs import clean_text
from engine.items import CREATE_ROLES
from engine.ledger.differences import MAX_LISTED, differing
from engine.ledger.reading import LedgerFile, read_ledger
from engine.ledger.registering import register_all
from engine.ledger.rows import SOURCES_BY_TITLE, Candidate, Lookups, RowError, check_row, dated_states
from engine.machine import CompiledWorkflow
from engine.registry import UnknownWorkflow
from engine.runtime import Runtime

items, units, users = itemrows.items, itemrows.units, itemrows.users
IN_CHUNK = 500  # values per IN (...) list
MAX_ERRORS = 100  # listed in one answer; the count says how many there were
# Said of a refused row the sheet hides: a ledger filtered to one unit still holds the other units' rows.
HIDDEN = "the row is hidden in the sheet, by a filter or by hand: hidden rows are imported too; unhide it to see " \
         "it, or delete it if it is not to be imported"


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do)."""

    created: int
    unchanged: int
    dry_run: bool
    differing: list[dict] = field(default_factory=list)  # the first MAX_LISTED recognised rows that differ
    differing_count: int = 0

    def as_json(self) -> dict:
        """The API's answer."""
        return {"created": self.created, "unchanged": self.unchanged, "dry_run": self.dry_run,
                "differing": self.differing, "differing_count": self.differing_count}


class LedgerRejected(InvalidInput):
    """Rows of the file are invalid: nothing was imported; ``errors`` lists them by row and column."""

    def __init__(self, errors: list[dict], total: int) -> None:
        first = errors[0]
        more = f" and {total - 1} more" if total > 1 else ""
        super().__init__(f"row {first['row']}, column {first['column']}: {first['detail']}{more}; nothing was imported",
                         field="file", errors=errors, error_count=total)


def _chunks(values: list, size: int = IN_CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _lookups(conn: sa.Connection, usernames: set[str]) -> Lookups:
    by_code, by_name = {}, {}
    for row in conn.execute(sa.select(units.c.id, units.c.code, units.c.name, units.c.path)):
        entry = (row.id, row.code, row.path)
        by_code[row.code.lower()] = entry
        by_name.setdefault(row.name, []).append(entry)
    assignees, assignees_by_name = {}, {}
    chosen = sa.select(users.c.username, users.c.roles, users.c.active, units.c.path, users.c.display_name
                       ).select_from(users.join(units, units.c.id == users.c.unit_id))
    for chunk in _chunks(sorted(usernames)):
        for row in conn.execute(chosen.where(users.c.username.in_(chunk))):
            assignees[row.username] = row
        # A ledger from another office names the person (李明), not their username: the names are read too.
        for row in conn.execute(chosen.where(users.c.display_name.in_(chunk))):
            assignees_by_name.setdefault(row.display_name, []).append(row)
            assignees.setdefault(row.username, row)  # checked by username once the name is resolved
    return Lookups(by_code, by_name, assignees, assignees_by_name)


def _existing(conn: sa.Connection, identities: list[tuple[str | None, str | None, str | None]]
              ) -> tuple[dict, dict]:
    """Items already here of these (source, external_ref, number): by (source, external_ref), and by number
    ((source, external_ref) of each)."""
    refs = sorted({ref for _source, ref, _number in identities if ref})
    numbers = sorted({number for _source, _ref, number in identities if number})
    by_ref, by_number = {}, {}
    for chunk in _chunks(refs):
        for row in conn.execute(sa.select(items.c.source, items.c.external_ref, items.c.number)
                                .where(items.c.external_ref.in_(chunk))):
            by_ref[(row.source, row.external_ref)] = row.number
    for chunk in _chunks(numbers):
        for row in conn.execute(sa.select(items.c.number, items.c.source, items.c.external_ref)
                                .where(items.c.number.in_(chunk))):
            by_number[row.number] = (row.source, row.external_ref)
    return by_ref, by_number


def _sort_out(conn: sa.Connection, candidates: list[Candidate], errors: list[dict]
              ) -> tuple[list[Candidate], dict[int, str]]:
    """(rows to register, rows already here: the number of the item each is); a row that clashes with another
    item or row is an error."""
    by_ref, by_number = _existing(conn, [(c.new.source, c.new.external_ref, c.number) for c in candidates])
    new, known = [], {}
    seen_refs: dict[tuple, int] = {}
    seen_numbers: dict[str, int] = {}
    for c in candidates:
        ref = (c.new.source, c.new.external_ref) if c.new.external_ref else None
        if ref is not None and ref in seen_refs:
            errors.append({"row": c.row, "column": "外部编号", "detail": f"source and 外部编号 {c.new.external_ref!r} "
                           f"repeat row {seen_refs[ref]}"})
            continue
        if c.number is not None and c.number in seen_numbers:
            errors.append({"row": c.row, "column": "编号", "detail": f"编号 {c.number} repeats row "
                                                                   f"{seen_numbers[c.number]}"})
            continue
        if ref is not None:
            seen_refs[ref] = c.row
        if c.number is not None:
            seen_numbers[c.number] = c.row
        if ref is not None and ref in by_ref:
            known[c.row] = by_ref[ref]
            continue
        if c.number is not None and c.number in by_number:
            if ref is None and by_number[c.number] == (c.new.source, None):
                known[c.row] = c.number
                continue
            # Either this item with its source or reference edited, or another installation's item: say both.
            errors.append({"row": c.row, "column": "编号", "detail": f"编号 {c.number} is taken by an item whose "
                           "问题来源 or 外部编号 differ from this row's: if the row is that item, restore those cells "
                           "(an import never changes an item); if it is another problem, leave 编号 blank to give "
                           "it a new number"})
            continue
        new.append(c)
    return new, known


def _storable(value: object) -> str | None:
    """``value`` when a database could hold it as text (a refused row's cell may not be: NUL, a lone surrogate)."""
    if not isinstance(value, str):
        return None
    try:
        return clean_text(value)
    except ValueError:
        return None


def _identity(cells: dict) -> tuple[str | None, str | None, str | None]:
    """(source, 外部编号, 编号) as a row names them, read as the row's check reads them; a cell no item could
    hold names nothing."""
    source, ref, number = (_storable(cells.get(name)) for name in ("问题来源", "外部编号", "编号"))
    return SOURCES_BY_TITLE.get(source, source), ref, number.upper() if number else None


def _recognised(conn: sa.Connection, refused: list[tuple[int, dict]]) -> dict[int, str]:
    """The rows among ``refused`` that name an item already here, by the rules _sort_out applies: the number of
    the item each is."""
    identities = {number: _identity(cells) for number, cells in refused}
    by_ref, by_number = _existing(conn, list(identities.values()))
    known = {}
    for number, (source, ref, item_number) in identities.items():
        if ref is not None and (source, ref) in by_ref:
            known[number] = by_ref[(source, ref)]
        elif ref is None and item_number is not None and by_number.get(item_number) == (source, None):
            known[number] = item_number
    return known


@dataclass
class PreparedLedger:
    """A ledger file read and its workflow chosen, before any row is checked against the database."""

    ledger: LedgerFile
    workflow: str
    compiled: CompiledWorkflow


def prepare(rt: Runtime, actor: Actor, data: bytes, *, workflow: str | None = None) -> PreparedLedger:
    """Refuse a caller who may not register items, a file too large or unreadable, an unknown workflow."""
    if not actor.roles & CREATE_ROLES:
        raise Forbidden("only registrars, supervisors and admins import ledgers", reason="role")
    if len(data) > rt.settings.ledger_max_bytes:
        raise LedgerTooLarge(f"ledger files are limited to {rt.settings.ledger_max_bytes} bytes; nothing was imported")
    if workflow is not None and not workflow.strip():
        raise InvalidInput("workflow is empty: name one, or leave it out for the default", field="workflow")
    name = workflow or rt.settings.default_workflow
    try:
        compiled = rt.registry.current(name)
    except UnknownWorkflow:
        raise InvalidInput(f"unknown workflow {name!r} (known: {', '.join(rt.registry.names())})",
                           field="workflow") from None
    # A ledger's sheet unpacks to about 16 times its file (1,200 bytes a row of typical text: 200,000 rows, the
    # most an import takes, about 240 MB); eight times the largest file accepted leaves room for any real ledger
    # and bounds what a crafted one costs.
    most = 8 * rt.settings.ledger_max_bytes
    return PreparedLedger(read_ledger(data, max_rows=rt.settings.ledger_max_rows, max_unpacked=most), name, compiled)


def apply(conn: sa.Connection, rt: Runtime, actor: Actor, prepared: PreparedLedger, *, dry_run: bool = False
          ) -> ImportResult:
    """Check every row and register the new ones in the caller's write transaction (LedgerRejected: none)."""
    definition = prepared.compiled.definition
    titles = {s.title.zh: s.name for s in definition.states}
    dated = dated_states(definition)
    rows = prepared.ledger.rows
    usernames = {str(cells["责任人"]) for _n, cells in rows if cells.get("责任人")}
    now = rt.clock.now()
    today = rt.local_date(now)
    lookups = _lookups(conn, usernames)
    errors: list[dict] = []
    candidates, refused = [], []
    for number, cells in rows:
        try:
            if number in prepared.ledger.problems:
                raise RowError(*prepared.ledger.problems[number])
            candidates.append(check_row(number, cells, actor=actor, definition=definition, workflow=prepared.workflow,
                                        titles=titles, dated=dated, lookups=lookups, today=today))
        except RowError as exc:
            refused.append((number, cells))
            errors += [{"row": number, "column": e.column, "detail": e.detail} for e in exc.each]
    known = _recognised(conn, refused) if refused else {}
    errors = [error for error in errors if error["row"] not in known]
    new, recognised = _sort_out(conn, candidates, errors)
    known.update(recognised)
    if errors:
        errors.sort(key=lambda e: e["row"])
        for error in errors:
            if error["row"] in prepared.ledger.hidden:  # a row the importer cannot see in the sheet as it opens it
                error["detail"] += f" ({HIDDEN})"
        raise LedgerRejected(errors[:MAX_ERRORS], len(errors))
    differ = differing(conn, rt.registry, actor, lookups,
                       [(number, known[number], cells) for number, cells in rows if number in known]) if known else []
    if not dry_run:
        register_all(conn, rt, actor, prepared.compiled, new, now)
    return ImportResult(created=len(new), unchanged=len(known), dry_run=dry_run, differing=differ[:MAX_LISTED],
                        differing_count=len(differ))


def import_ledger(rt: Runtime, actor: Actor, data: bytes, *, dry_run: bool = False,
                  workflow: str | None = None) -> ImportResult:
    """Read a ledger file, then check and register its rows in one transaction of its own (all rows or none)."""
    prepared = prepare(rt, actor, data, workflow=workflow)
    with rt.store.write() as conn:
        return apply(conn, rt, actor, prepared, dry_run=dry_run)
