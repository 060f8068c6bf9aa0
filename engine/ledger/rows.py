"""Turning ledger rows into items to register: each cell read and checked as item creation checks it."""
from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from pydantic import ValidationError

from engine.accounts import Actor
from engine.deadlines import implausible_day
from engine.definitions.workflow import WorkflowDef
from engine.guards import past_max_due
from engine.inputs import NewItem, error_message, iso_date
from engine.items import CREATE_ROLES, assignee_problem
from engine.ledger.columns import HEADERS, SOURCE_TITLES
from engine.ledger.xlsx_in import MonthCell

# NewItem's fields and the ledger column each comes from, so that a refusal names the column.
COLUMN_OF = {"title": "问题描述", "description": "问题描述", "source": "问题来源", "unit": "责任单位",
             "due_date": "整改时限", "measures": "整改措施", "assignee": "责任人", "external_ref": "外部编号",
             "campaign": "专项/批次", "workflow": "当前状态"}
SOURCES_BY_TITLE = {title: code for code, title in SOURCE_TITLES.items()}
TITLE_MAX = 200
# The end of a Chinese sentence (full-width marks only: a '?' or ';' in a URL or a code ends nothing), after
# a few characters at least (a paragraph that starts with a mark is no one-character title).
_SENTENCE_END = re.compile(r"[。；！？]")
_SHORTEST_TITLE = 5
NUMBER_MAX = 32
# Letters and digits of any script (an office's own prefix may be 督查) in two parts or more joined by '-': no
# spaces, slashes, emoji or control characters, which no installation writes and a list or a URL would mangle.
ITEM_NUMBER = re.compile(r"[^\W_]+(?:-[^\W_]+)+")
PROGRESS_MAX = 5000
_ORDER = {name: i for i, name in enumerate(HEADERS)}


class RowError(Exception):
    """One cell the import refuses."""

    def __init__(self, column: str, detail: str) -> None:
        super().__init__(detail)
        self.column, self.detail = column, detail

    @property
    def each(self) -> list["RowError"]:
        """The refusals it stands for: itself."""
        return [self]


class RowErrors(RowError):
    """Several cells of one row the import refuses, in the ledger's column order: all of them are listed, so a
    row is put right in one go."""

    def __init__(self, errors: list[RowError]) -> None:
        first = {}  # of each column, the first found: one line a row and column
        for error in sorted(errors, key=lambda e: _ORDER.get(e.column, len(_ORDER))):
            first.setdefault(error.column, error)
        self.errors = list(first.values())
        super().__init__(self.errors[0].column, self.errors[0].detail)

    @property
    def each(self) -> list[RowError]:
        """The refusals, one a column."""
        return self.errors


@dataclass
class Candidate:
    """A valid row: the item to register, the state it starts in, and what the ledger adds to the record."""

    row: int
    new: NewItem
    number: str | None
    state: str
    unit_id: int
    unit_path: str
    progress: str | None
    closed_on: dt.date | None
    fields: dict = field(default_factory=dict)


@dataclass
class Lookups:
    """What checking a row needs from the database, read once for the whole file."""

    units: dict[str, tuple[int, str, str]]  # lower-case code -> (id, code, path)
    units_by_name: dict[str, list[tuple[int, str, str]]]
    assignees: dict[str, object]  # username -> SELECT_ASSIGNEE row (with the display name)
    assignees_by_name: dict[str, list] = field(default_factory=dict)  # display name -> those rows


# Dates typed as text the way Chinese ledgers write them, year first so never ambiguous: 2026-06-30, 2026/6/30,
# 2026.6.30, 2026年6月30日 (full-width digits and slashes too, by NFKC). Day-first forms such as 30/6/2026 are not.
_TEXT_DATES = (re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})"),
               re.compile(r"([0-9]{4})\s*年\s*([0-9]{1,2})\s*月\s*([0-9]{1,2})\s*日?"))


def _text_date(value: str) -> dt.date:
    text = unicodedata.normalize("NFKC", value)
    for pattern in _TEXT_DATES:
        found = pattern.fullmatch(text)
        if found is not None:
            year, month, day = (int(part) for part in found.groups() if part.isdigit())
            try:
                return dt.date(year, month, day)
            except ValueError:
                raise ValueError("is not a real calendar date") from None
    return iso_date(value)  # refused, with the API's words for what a date is


# A time of day (12:00, 9:30:15), as a cell formatted h:mm shows it or as typed: no date at all.
_TIME_OF_DAY = re.compile(r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?")


def read_date(cells: dict, column: str) -> dt.date | None:
    """The date in ``column`` (None when empty), or RowError: a day typed as a date or as year-first text."""
    value = cells.get(column)
    if value is None:
        return None
    if isinstance(value, MonthCell):
        last = calendar.monthrange(value.year, value.month)[1]
        raise RowError(column, f"shows only a month ({value.shown}), no day: write the day, such as "
                               f"{value.year}年{value.month}月{last}日")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if _TIME_OF_DAY.fullmatch(unicodedata.normalize("NFKC", value)):
        raise RowError(column, f"shows a time of day ({value}), not a date: write the date, such as 2026年6月30日 "
                               "(a cell formatted as a time shows no date)")
    try:
        return _text_date(value)
    except ValueError as exc:
        raise RowError(column, f"{value!r}: {exc} (2026-06-30, 2026/6/30 and 2026年6月30日 are read)") from None


def _source(cells: dict) -> str:
    value = cells.get("问题来源")
    if value is None:
        raise RowError("问题来源", "is empty")
    code = SOURCES_BY_TITLE.get(value, value)
    if code not in SOURCE_TITLES:
        known = ", ".join(f"{t} ({c})" for c, t in SOURCE_TITLES.items())
        raise RowError("问题来源", f"{value!r} is not a known source (known: {known})")
    return code


def _unit(cells: dict, lookups: Lookups, actor: Actor) -> tuple[int, str, str]:
    value = cells.get("责任单位")
    if value is None:
        raise RowError("责任单位", "is empty")
    found = lookups.units.get(value.lower())
    if found is None:
        # By name, among the units the importer may register in only: a namesake elsewhere is no concern of theirs.
        named = [unit for unit in lookups.units_by_name.get(value, []) if actor.can_act(CREATE_ROLES, unit[2])]
        if len(named) > 1:
            raise RowError("责任单位", f"several of your units are named {value!r}; write the unit's code")
        found = named[0] if named else None
    if found is None or not actor.can_act(CREATE_ROLES, found[2]):
        # One answer for a unit that does not exist and one outside the importer's units, as the item list gives.
        raise RowError("责任单位", f"unit {value!r} does not exist or is outside {actor.username}'s units")
    return found


def _assignee(cells: dict, lookups: Lookups, unit_path: str) -> str | None:
    """The 责任人's username: the cell's username, else the one user of the item's unit who may be its assignee
    and is named so (a namesake elsewhere is no concern of this row)."""
    value = cells.get("责任人")
    if value is None or value in lookups.assignees:
        return value  # a username: checked as item creation checks it
    named = [row.username for row in lookups.assignees_by_name.get(value, [])
             if assignee_problem(row, row.username, unit_path) is None]
    if len(named) > 1:
        raise RowError("责任人", f"several users of the unit are named {value!r} ({', '.join(sorted(named))}); "
                                "write the username")
    if not named:
        # One answer whether or not someone elsewhere bears the name: the row's unit is all the importer asks about.
        raise RowError("责任人", f"{value!r} is no user's username, nor the name of an active user with the assignee "
                                "role in the row's unit")
    return named[0]


def read_state(cells: dict, definition: WorkflowDef, titles: dict[str, str]) -> str:
    """The state 当前状态 names (its title or name; empty: the initial state), or RowError."""
    value = cells.get("当前状态")
    if value is None:
        return definition.initial
    name = titles.get(value, value)
    if name not in {s.name for s in definition.states}:
        known = ", ".join(f"{s.title.zh} ({s.name})" for s in definition.states)
        raise RowError("当前状态", f"{value!r} is not a state of workflow {definition.name!r} (known: {known})")
    return name


def dated_states(definition: WorkflowDef) -> frozenset[str]:
    """The states whose rows need a 整改时限: those past the initial one from which an item can still come to a
    state due on its due date (by reopening too), as the API never lets an item get there without one."""
    reach = {s.name for s in definition.states if s.due is not None and s.due.field == "due_date"}
    while True:  # the sources of any transition into ``reach``, until nothing more is added
        more = {source for t in definition.transitions if t.dest in reach for source in t.source} - reach
        if not more:
            return frozenset(reach - {definition.initial})
        reach |= more


def _undated(state: str, definition: WorkflowDef, dated: frozenset[str]) -> str | None:
    """Why a row in ``state`` may not leave 整改时限 empty (None when it may)."""
    if state not in dated:
        return None
    initial = definition.state(definition.initial).title.zh
    timed = "、".join(s.title.zh for s in definition.states if s.due is not None and s.due.field == "due_date")
    others = "、".join(s.title.zh for s in definition.states if s.name not in dated and s.name != definition.initial)
    return (f"is empty: an item {definition.state(state).title.zh} needs its deadline, which the reminders of "
            f"{timed} run on (without one, none would ever fall due); only rows in the initial state {initial}"
            f"{' or in ' + others if others else ''} may leave it empty")


def read_problem(cells: dict) -> tuple[str, str]:
    """(title, description) of 问题描述, or RowError when it is empty."""
    text = cells.get("问题描述")
    if text is None:
        raise RowError("问题描述", "is empty: every problem needs a description")
    title, _newline, description = text.partition("\n")
    title = title.strip()
    if len(title) > TITLE_MAX:
        # Ledgers often describe a problem in one long paragraph: its first sentence is the title (cut short if
        # it is longer still), and the whole text stays the description, so nothing of it is lost.
        sentence = _SENTENCE_END.search(title, _SHORTEST_TITLE, TITLE_MAX)
        short = title[:sentence.end()] if sentence else title[:TITLE_MAX - 1] + "…"
        return short, text.strip()
    return title, description.strip()


def _new_item(values: dict) -> NewItem:
    try:
        return NewItem(**values)
    except ValidationError as exc:
        found: dict[str, RowError] = {}
        for error in exc.errors():
            name = str(error["loc"][0]) if error["loc"] else "title"
            column = COLUMN_OF.get(name, name)
            found.setdefault(column, RowError(column, error_message(error)))  # the first of each column
        raise RowErrors(list(found.values())) from None


def _item_number(cells: dict) -> str | None:
    item_number = cells.get("编号")
    if item_number is None:
        return None
    item_number = item_number.upper()
    if len(item_number) > NUMBER_MAX or not ITEM_NUMBER.fullmatch(item_number):
        raise RowError("编号", f"{item_number[:40]!r} is not an item number (letters and digits in parts joined "
                             f"by '-', like ZG-2026-000123, at most {NUMBER_MAX} characters)")
    return item_number


def _progress(cells: dict) -> str | None:
    progress = cells.get("最近进展")
    if progress is not None and (len(progress) > PROGRESS_MAX or "\x00" in progress):
        raise RowError("最近进展", f"must be at most {PROGRESS_MAX} characters, without NUL")
    return progress


class _Refusals:
    """The refusals of one row's cells, gathered so that every bad column is named, not only the first."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def read(self, reader, *args) -> object:
        """What ``reader`` reads, or None with its refusal kept."""
        try:
            return reader(*args)
        except RowError as exc:
            self.errors += exc.each
            return None

    def add(self, column: str, detail: str | None) -> None:
        """Keep a refusal of ``column`` when there is one (``detail`` not None)."""
        if detail is not None:
            self.errors.append(RowError(column, detail))


def check_row(number: int, cells: dict, *, actor: Actor, definition: WorkflowDef, workflow: str,
              titles: dict[str, str], dated: frozenset[str], lookups: Lookups, today: dt.date) -> Candidate:
    """The candidate a row describes, or RowError (RowErrors: one a column) naming every column at fault."""
    if all(cells.get(name) is None for name in ("问题来源", "问题描述", "责任单位")):
        filled = ", ".join(f"{name} {str(value)[:20]!r}" for name, value in cells.items() if value is not None)
        raise RowError("问题描述", f"the row describes no problem (问题来源, 问题描述 and 责任单位 are empty; it holds "
                                  f"{filled}): a signature, total or note under the table? delete the row")
    refused = _Refusals()
    problem = refused.read(read_problem, cells)
    source = refused.read(_source, cells)
    unit = refused.read(_unit, cells, lookups, actor)
    # Who may be the assignee depends on the unit: with no unit, 责任人 cannot be judged.
    assignee = refused.read(_assignee, cells, lookups, unit[2]) if unit is not None else None
    due_date = refused.read(read_date, cells, "整改时限")
    state = refused.read(read_state, cells, definition, titles)
    closed_on = refused.read(read_date, cells, "销号日期")
    item_number = refused.read(_item_number, cells)
    progress = refused.read(_progress, cells)
    new = None
    if problem is not None and source is not None and unit is not None:
        new = refused.read(_new_item, {
            "title": problem[0], "description": problem[1], "source": source, "unit": unit[1], "due_date": due_date,
            "workflow": workflow, "measures": cells.get("整改措施") or "", "assignee": assignee,
            "external_ref": cells.get("外部编号"), "campaign": cells.get("专项/批次")})
    if assignee is not None and new is not None:
        refused.add("责任人", assignee_problem(lookups.assignees.get(assignee), assignee, unit[2]))
    too_late = past_max_due(due_date, definition.due_date.max, today) if due_date is not None else None
    refused.add("整改时限", None if too_late is None else f"{too_late} (workflow {workflow!r})")
    refused.add("整改时限", implausible_day("整改时限", due_date, today))
    if cells.get("整改时限") is None and state is not None:
        refused.add("整改时限", _undated(state, definition, dated))
    refused.add("销号日期", implausible_day("销号日期", closed_on, today, future=False))
    final = state is not None and definition.state(state).final
    if closed_on is not None and state is not None:
        refused.add("销号日期", None if final else f"is given but the state {state!r} is not a final one")
        refused.add("销号日期", f"{closed_on.isoformat()} is in the future" if closed_on > today else None)
    if refused.errors:
        raise RowErrors(refused.errors)
    unit_id, _code, unit_path = unit
    return Candidate(row=number, new=new, number=item_number, state=state, unit_id=unit_id, unit_path=unit_path,
                     progress=progress, closed_on=closed_on if final else None)
