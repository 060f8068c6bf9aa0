"""The item list's query plans: every documented filter and the common pairs read their rows through the
index made for them, already in the list's order (no full scan of items, no sort of every match), on both
stores; and what the list answers is what the plain query without any of those indexes answers.

The database is a small one bench/seed.py fills (realistic spread of states, units, campaigns, deadlines),
with fresh statistics. PostgreSQL plans are read with sequential scans and sorts priced out of reach, so
the plan shows which ordered index the planner has for each query; a missing one shows up as a Sort.
The summary report's statements are read the same way (no full scan of items; open items index only).
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import pytest
import sqlalchemy as sa

from bench import listcases
from bench.seed import seed
from engine.config import Settings
from engine.listing import termstats
from engine.listing.textsearch import SEARCHED
from engine.reports.summary import GROUPS, SummaryQuery, summary
from engine.runtime import Runtime
from engine.store import Store
from tests.conftest import START, new_database
from tests.db_roles import owner_url

ITEMS = 2_000
TODAY = START.date()
CREATED, STATE, UNIT = "ix_items_created", "ix_items_state_created", "ix_items_unit_created"
UNIT_STATE = "ix_items_unit_state_created"
# The index each case's first and next page must walk (SQLite's choice; PostgreSQL may also take another
# ordered index when its statistics say so: ``PG_ALSO``).
EXPECTED = {
    "no filter": CREATED, "state": STATE, "state (rare)": STATE, "unit (city)": CREATED,
    "unit (department)": UNIT, "source": "ix_items_source_created", "severity": "ix_items_severity_created",
    "light red": CREATED, "light yellow": CREATED, "light green": CREATED, "overdue": CREATED,
    "not overdue": CREATED, "assignee": "ix_items_assignee_created", "campaign": "ix_items_campaign_created",
    "due_before": CREATED, "due_after": CREATED, "workflow": "ix_items_workflow_created", "q (2 chars)": CREATED,
    "state (any of 2)": CREATED, "scope": CREATED, "scope + state": STATE, "scope + state (rare)": STATE,
    "scope + overdue": CREATED, "scope + light red": CREATED, "scope + campaign": "ix_items_campaign_created",
    "scope + assignee": "ix_items_assignee_created", "scope + unit + state": UNIT_STATE,
    "scope + unit + overdue": UNIT,
}
PG_ALSO = {UNIT, UNIT_STATE, STATE}
# Values a sixth of the items or more hold: PostgreSQL may walk the ordering index and test each entry.
PG_WALKS = ("state", "source", "severity", "workflow", "scope + state", "unit (department)",
            "scope + unit + overdue")
# Text queries of 3 characters or more: found through the text index (FTS5 / pg_trgm), not by scanning.
TEXT_CASES = ("q (common)", "q (rare)", "q (number)", "scope + q")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def seeded_url(request, tmp_path_factory) -> str:
    """A database of ITEMS seeded items with fresh statistics (seeded as the owner, read as the application):
    one for the module's tests, which only read it (seeding takes seconds)."""
    url = new_database(request, request.param, tmp_path_factory.mktemp("seeded"))
    seed(owner_url(url), ITEMS, now=START)
    return url


@pytest.fixture
def seeded(seeded_url):
    store = Store(seeded_url)
    yield store
    store.dispose()


def _cases() -> dict[str, listcases.Case]:
    return {case.name: case for case in listcases.cases(TODAY)}


def _pages(store: Store, case: listcases.Case, *, first_only: bool = False) -> tuple[list[str], list]:
    """The ids of every page of the case (or the first two), and the item statements each page sent."""
    ids, statements, cursor = [], [], None
    while True:
        with store.read() as conn:
            who = listcases.actor(conn, case.username)
            with listcases.captured(store.reader) as sent:
                rows, cursor = listcases.run_page(conn, who, case, TODAY, cursor=cursor)
        ids += [row["id"] for row in rows]
        statements.append(listcases.item_statements(sent))
        if cursor is None or (first_only and len(statements) == 2):
            return ids, statements


def _sqlite_plan(conn: sa.Connection, statement: str, params) -> list[str]:
    return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params).all()]


def _pg_plan(conn: sa.Connection, statement: str, params, **settings: str) -> list[dict]:
    """Every node of the plan, flattened (with the given planner settings for this transaction only)."""
    for name, value in settings.items():
        conn.exec_driver_sql(f"SET LOCAL {name} = {value}")
    (plan,), = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", params).all()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo += node.get("Plans", [])
    return nodes


def _sqlite_problems(conn: sa.Connection, name: str, statements: list) -> list[str]:
    problems = []
    for statement, params in statements:
        plan = _sqlite_plan(conn, statement, params)
        text = " ; ".join(plan)
        if "items_fts" in statement and "MATCH" in statement:
            if not any("VIRTUAL TABLE INDEX" in line and ":M" in line for line in plan):
                problems.append(f"{name}: the text index is not searched: {text}")
            continue
        for line in plan:
            if line.startswith("SCAN items") and "INDEX" not in line:
                problems.append(f"{name}: a full scan of items: {text}")
        if "INDEXED BY" in statement:  # engine.listing.narrow's probe of one filter's own index
            continue
        if "items.rowid IN" in statement:
            # At most listnarrow.MAX_CANDIDATES rows named: read by rowid and sorted, or (when the planner finds
            # them dense) tested on the entries of an index walked in the list's order; never a full scan.
            by_rowid = any(line.startswith("SEARCH items USING INTEGER PRIMARY KEY") for line in plan)
            if not by_rowid and "USE TEMP B-TREE FOR ORDER BY" in text:
                problems.append(f"{name}: the candidates are sorted without being read by rowid: {text}")
        elif "USE TEMP B-TREE FOR ORDER BY" in text:
            problems.append(f"{name}: every match is sorted (no index in the list's order): {text}")
        elif name in EXPECTED and f"INDEX {EXPECTED[name]}" not in text:
            problems.append(f"{name}: expected {EXPECTED[name]}: {text}")
    return problems


def _pg_problems(conn: sa.Connection, name: str, statements: list) -> list[str]:
    problems = []
    for statement, params in statements:
        with conn.begin_nested():
            nodes = _pg_plan(conn, statement, params, enable_seqscan="off", enable_sort="off")
        summary = "; ".join(f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name', ''))}" for n in nodes)
        if any(n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "items" for n in nodes):
            problems.append(f"{name}: a full scan of items: {summary}")
        if name in TEXT_CASES:
            continue  # the trigram indexes are checked by test_text_search_uses_the_trigram_indexes
        if any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes):
            problems.append(f"{name}: every match is sorted (no index in the list's order): {summary}")
        used = {n.get("Index Name") for n in nodes}
        allowed = {EXPECTED.get(name)} | PG_ALSO | ({CREATED} if name in PG_WALKS else set())
        if name in EXPECTED and not used & allowed:
            problems.append(f"{name}: expected {EXPECTED[name]}: {summary}")
    return problems


def test_every_documented_filter_reads_an_index_in_the_lists_order(seeded):
    problems = []
    for name, case in _cases().items():
        _ids, pages = _pages(seeded, case, first_only=True)
        with seeded.read() as conn:
            for statements in pages:  # the first page, and the next through its cursor
                problems += (_sqlite_problems if seeded.is_sqlite else _pg_problems)(conn, name, statements)
    assert not problems, "\n".join(problems)


def test_every_case_has_a_planned_index():
    """A case added to bench/listcases.py says here which index serves it."""
    assert set(_cases()) == set(EXPECTED) | set(TEXT_CASES)


@pytest.mark.parametrize("seeded_url", ["postgres"], indirect=True)
def test_text_search_uses_the_trigram_indexes(seeded):
    """With plain index scans ruled out, the ILIKE of q= is answered from the GIN trigram index of every
    searched column (a BitmapOr of the four), not by reading every row."""
    case = _cases()["q (rare)"]
    _ids, pages = _pages(seeded, case, first_only=True)
    with seeded.read() as conn:
        statement, params = pages[0][-1]
        nodes = _pg_plan(conn, statement, params, enable_seqscan="off", enable_indexscan="off")
    used = {n.get("Index Name") for n in nodes if n["Node Type"] == "Bitmap Index Scan"}
    assert used == {f"ix_items_{column}_trgm" for column in SEARCHED}, nodes


@pytest.mark.parametrize("seeded_url", ["postgres"], indirect=True)
def test_a_long_query_asks_the_trigram_indexes_for_its_rarer_part(seeded, monkeypatch):
    """With trigram counts that show the item number's year and prefix in nearly every item, the indexes are
    asked for the number's rarer end only, and the whole number is tested on the rows they name."""
    monkeypatch.setattr(termstats, "COMMON", 20)  # these 2,000 items stand for a million
    termstats.refresh(seeded)
    try:
        case = _cases()["q (number)"]
        _ids, pages = _pages(seeded, case, first_only=True)
        statement, params = pages[0][-1]
        with seeded.read() as conn:
            nodes = _pg_plan(conn, statement, params, enable_seqscan="off", enable_indexscan="off")
    finally:
        monkeypatch.undo()
        termstats.refresh(seeded)  # as the module's other tests found them
    conditions = [n["Index Cond"] for n in nodes if n["Node Type"] == "Bitmap Index Scan"]
    filters = " ".join(n.get("Filter", "") for n in nodes)
    assert len(conditions) == len(SEARCHED) and not any(case.filters.q in c for c in conditions), conditions
    assert f"%{case.filters.q}%" in filters, nodes


def _reference_ids(conn: sa.Connection, case: listcases.Case, today: dt.date, yellow_days: int = 3) -> list[str]:
    """The case's items by the plain query the list ran before its indexes: every item joined to its unit,
    paths compared, text matched by LIKE on every row."""
    f, clauses, params = case.filters, [], {"today": today, "soon": today + dt.timedelta(days=yellow_days)}
    who = listcases.actor(conn, case.username)
    if not who.sees_everything:
        clauses.append("u.path LIKE :scope")
        params["scope"] = f"{who.unit_path}%"
    for name in ("state", "source", "severity", "assignee", "campaign", "workflow"):
        if getattr(f, name):
            clauses.append(f"i.{name} IN ({', '.join(repr(v) for v in getattr(f, name))})")
    if f.unit:
        paths = [conn.execute(sa.text("SELECT path FROM units WHERE code = :c"), {"c": code}).scalar_one()
                 for code in f.unit]
        clauses.append("(" + " OR ".join(f"u.path LIKE '{p}%'" for p in paths) + ")")
    if f.overdue is not None:
        clauses.append(("" if f.overdue else "NOT ") + "(i.deadline IS NOT NULL AND i.deadline < :today)")
    lights = {"red": "i.deadline < :today", "yellow": "i.deadline >= :today AND i.deadline <= :soon",
              "green": "i.deadline > :soon", "none": "i.deadline IS NULL"}
    if f.light:
        clauses.append("(" + " OR ".join(f"({lights[light]})" for light in f.light) + ")")
    if f.due_before:
        clauses.append("i.due_date < :due_before")
        params["due_before"] = f.due_before
    if f.due_after:
        clauses.append("i.due_date > :due_after")
        params["due_after"] = f.due_after
    if f.q:
        clauses.append("(" + " OR ".join(f"lower(i.{c}) LIKE lower(:q)" for c in SEARCHED) + ")")
        params["q"] = f"%{f.q}%"
    where = " AND ".join(clauses) or "1 = 1"
    return list(conn.execute(sa.text(f"SELECT i.id FROM items i JOIN units u ON u.id = i.unit_id WHERE {where} "
                                     "ORDER BY i.created_at DESC, i.id DESC"), params).scalars())


def test_every_case_lists_what_the_plain_query_lists(seeded):
    """Every page of every case, walked through its cursors, together are the plain query's items in its order."""
    for name, case in _cases().items():
        ids, _statements = _pages(seeded, case)
        with seeded.read() as conn:
            expected = _reference_ids(conn, case, TODAY)
        assert ids == expected, name
        assert ids or name in ("q (number)", "q (rare)"), f"{name} matches nothing in the seeded data"


def test_the_summary_report_reads_no_item_row_of_a_closed_item(seeded, seeded_url):
    """Over all time (the dashboard's report) the report counts open items from the partial index ix_items_open
    and final ones from report_counts (on SQLite from its index by group, with no sort), never an item row of a
    closed item. With a registration period, the
    open items of the period may instead come through the ordering index by created_at, as may the final ones of
    its cut months (PostgreSQL picks by its statistics): never a full scan of items, whatever the grouping."""
    rt = Runtime.open(Settings(database_url=seeded_url))
    period = (TODAY.replace(day=1) - dt.timedelta(days=200), TODAY - dt.timedelta(days=1))
    problems, open_reads = [], 0
    try:
        for (date_from, date_to), group_by in itertools.product(((None, None), period), GROUPS):
            query = SummaryQuery(group_by, date_from, date_to, TODAY)
            with seeded.read() as conn, listcases.captured(seeded.reader) as sent:
                summary(conn, listcases.actor(conn, listcases.AUDITOR), rt.registry, query, rt.settings.tz)
            with seeded.read() as conn:
                for statement, params in sent:
                    if not re.search(r"\bFROM (items|report_counts)\b", statement):
                        continue
                    plan = _report_plan(conn, statement, params)
                    if re.search(r"SCAN items(?! USING)|Seq Scan items", plan):
                        problems.append(f"{group_by} {date_from}: a full scan of items: {plan}")
                    # SQLite: the kept counts summed from the index alone, in group order (PostgreSQL's small
                    # table it may read as it likes).
                    if ("FROM report_counts" in statement and conn.dialect.name == "sqlite"
                            and not re.fullmatch(r"SEARCH report_counts USING COVERING INDEX ix_report_counts_by_group "
                                                 r"\(dimension=\?\)", plan)):
                        problems.append(f"{group_by} {date_from}: the kept counts are not read in group order from "
                                        f"ix_report_counts_by_group alone: {plan}")
                    if "closed_at IS NULL" in statement:
                        open_reads += 1
                        # PostgreSQL may also take it as a bitmap when its statistics say few rows match.
                        if date_from is None and not re.search(
                                r"COVERING INDEX ix_items_open|(Index Only|Bitmap Index) Scan ix_items_open", plan):
                            problems.append(f"{group_by}: the open items are not read from ix_items_open: {plan}")
    finally:
        rt.store.dispose()
    assert open_reads == 2 * len(GROUPS) and not problems, "\n".join(problems)


def _report_plan(conn: sa.Connection, statement: str, params) -> str:
    if conn.dialect.name == "sqlite":
        return " ; ".join(_sqlite_plan(conn, statement, params))
    with conn.begin_nested():
        nodes = _pg_plan(conn, statement, params, enable_seqscan="off")
    return "; ".join(f"{n['Node Type']} {n.get('Index Name', n.get('Relation Name', ''))}" for n in nodes)
