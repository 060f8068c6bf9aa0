"""Recognised rows against their items: which of the columns describing an item a row's cells would change.

An import never edits an item (items move only through their workflow), so a row it recognises is left as it
is; what its cells say otherwise is reported, column by column, instead of being dropped unseen. Both sides are
read by the import's own readers, the item's as the export writes it, so that a ledger exported here and
imported back differs in nothing.
"""
from __future__ import annotations

import re

import sqlalchemy as sa

from engine import itemrows
from engine.accounts import Actor
from engine.definitions.workflow import WorkflowDef
from engine.errors import DomainError
from engine.ledger.columns import NOT_IN_XML, problem_text
from engine.ledger.reading import cell_value
from engine.ledger.rows import Lookups, RowError, read_date, read_problem, read_state
from engine.registry import WorkflowRegistry

items, units, users = itemrows.items, itemrows.units, itemrows.users
IN_CHUNK = 500  # values per IN (...) list
MAX_LISTED = 100  # rows listed in one answer; differing_count says how many differ
# The columns that describe the item itself, in the ledger's order. Not compared: 序号, 红黄绿灯 and 逾期天数
# (computed on export), 最近进展 and 销号日期 (drawn from the history), 编号, 外部编号 and 问题来源 (what
# recognises the row).
COMPARED = ("问题描述", "整改措施", "责任单位", "责任人", "整改时限", "当前状态", "专项/批次")
_UNREADABLE = object()  # a cell the import's reader refuses: never the same as what an item holds
_LINE_BREAK = re.compile(r"\r\n?")

_ITEMS = (sa.select(items.c.number, items.c.title, items.c.description, items.c.measures, items.c.assignee,
                    items.c.due_date, items.c.state, items.c.workflow_hash, items.c.campaign,
                    units.c.code.label("unit_code"), units.c.name.label("unit_name"),
                    units.c.path.label("unit_path"), users.c.display_name.label("assignee_name"))
          .select_from(items.join(units, units.c.id == items.c.unit_id)
                       .outerjoin(users, users.c.username == items.c.assignee)))


def _read(reader, *args) -> object:
    try:
        return reader(*args)
    except RowError:
        return _UNREADABLE


def _shown(value: str | None) -> str | None:
    """Text as a sheet shows it, read as the import reads a cell (stripped, empty as None): line breaks as \\n (a
    browser's form sends \\r\\n; a spreadsheet program saving the export writes \\n), without the control
    characters the .xlsx export drops. A cell the import read is returned as it is unless one of those is in it."""
    if value and ("\r" in value or NOT_IN_XML.search(value)):
        return cell_value(NOT_IN_XML.sub("", _LINE_BREAK.sub("\n", value)))
    return value


def _item_text(value: str | None) -> str | None:
    """An item's text as its exported cell reads back."""
    return cell_value(_shown(value)) if value else None


def _names_unit(value: str | None, item: sa.Row, lookups: Lookups) -> bool:
    """Whether 责任单位 names the item's unit: its code in any case, else (when no unit has the cell as its
    code, which the import would read first) its name."""
    if value is None:
        return False
    if value.lower() == item.unit_code.lower():
        return True
    return value.lower() not in lookups.units and value == item.unit_name


def _names_assignee(value: str | None, item: sa.Row, lookups: Lookups) -> bool:
    """Whether 责任人 names the item's assignee: their username, else (when the cell is nobody's username, which
    the import would read first) their display name; empty for an item without one."""
    if value is None or item.assignee is None:
        return value is None and item.assignee is None
    if value == item.assignee:
        return True
    return value not in lookups.assignees and value == item.assignee_name


class _States:
    """Each workflow version's states by title, and each item state as its exported title reads back, worked
    out once per version and state."""

    def __init__(self, registry: WorkflowRegistry) -> None:
        self.registry, self.known, self.read_back = registry, {}, {}

    def __call__(self, workflow_hash: str, state: str) -> tuple[WorkflowDef, dict[str, str], str]:
        if workflow_hash not in self.known:
            definition = self.registry.by_hash(workflow_hash).definition
            self.known[workflow_hash] = (definition, {s.title.zh: s.name for s in definition.states})
        definition, titles = self.known[workflow_hash]
        if (workflow_hash, state) not in self.read_back:
            shown = {"当前状态": definition.state(state).title.zh}
            self.read_back[(workflow_hash, state)] = read_state(shown, definition, titles)
        return definition, titles, self.read_back[(workflow_hash, state)]


def _columns(cells: dict, item: sa.Row, lookups: Lookups, states: _States) -> list[str]:
    """The compared columns whose cells the import reads otherwise than the item's exported cells; a column the
    file does not have says nothing, and is not compared."""
    try:
        definition, titles, state = states(item.workflow_hash, item.state)
    except (DomainError, KeyError):  # a version that cannot load (refused or unknown: the audit names it), or a
        definition = titles = state = None            # state it lacks: 当前状态 is not compared
    # Each side read as the import reads it (the item's as the export writes it): the same when equal.
    same = {
        "问题描述": _read(read_problem, {"问题描述": _shown(cells.get("问题描述"))})
        == _read(read_problem, {"问题描述": _item_text(problem_text(item.title, item.description))}),
        "整改措施": (_shown(cells.get("整改措施")) or "") == (_item_text(item.measures) or ""),
        "责任单位": _names_unit(cells.get("责任单位"), item, lookups),
        "责任人": _names_assignee(cells.get("责任人"), item, lookups),
        "整改时限": _read(read_date, cells, "整改时限") == item.due_date,
        # In the item's own workflow: a row recognised as an item of another workflow names that one's states.
        "当前状态": definition is None or _read(read_state, cells, definition, titles) == state,
        "专项/批次": _shown(cells.get("专项/批次")) == _item_text(item.campaign),
    }
    return [name for name in COMPARED if name in cells and not same[name]]


def differing(conn: sa.Connection, registry: WorkflowRegistry, actor: Actor, lookups: Lookups,
              recognised: list[tuple[int, str, dict]]) -> list[dict]:
    """``{"row", "number", "columns"}`` of each recognised (row, item number, cells) whose cells differ from its
    item, by row; an item outside the importer's read scope is not compared (its cells are not theirs to probe)."""
    by_number: dict[str, list[tuple[int, dict]]] = {}
    for row, number, cells in recognised:
        by_number.setdefault(number, []).append((row, cells))
    states = _States(registry)
    found = []
    numbers = sorted(by_number)
    for start in range(0, len(numbers), IN_CHUNK):
        for item in conn.execute(_ITEMS.where(items.c.number.in_(numbers[start:start + IN_CHUNK]))):
            if not actor.can_see(item.unit_path):
                continue
            for row, cells in by_number[item.number]:
                columns = _columns(cells, item, lookups, states)
                if columns:
                    found.append({"row": row, "number": item.number, "columns": columns})
    found.sort(key=lambda d: d["row"])
    return found
