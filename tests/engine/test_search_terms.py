"""The text search's trigram counts (engine.listing.termstats, migration 0016): a long q= asks the text index
for its rarer part only (SQLite's FTS5, PostgreSQL's pg_trgm indexes), answers exactly what the whole text
answers, falls back to the whole text when its rarer part cannot serve, and the counts are made by the
scheduler's job."""
from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from engine import jobs
from engine.listing import termstats, textsearch
from tests.helpers import new_item

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
POSTGRES = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
TARGET = "督查〔2026〕17号-3"


def test_the_whole_phrase_is_asked_when_no_trigram_is_far_commoner():
    assert termstats.fts_query("消防通道堵塞", {}) == '"消防通道堵塞"'
    assert termstats.fts_query("消防通道堵塞", {"消防通": 5_000, "通道堵": 9_000}) == '"消防通道堵塞"'
    assert termstats.fts_query('a"b"c', {}) == '"a""b""c"'  # no query syntax gets through


def test_the_runs_of_rarer_trigrams_are_asked_all_together():
    counts = {"督查〔": 499_291, "查〔2": 499_291, "〔20": 499_291, "202": 1_000_000, "026": 458_453,
              "26〕": 226_845, "6〕1": 24_953, "〕17": 5_014, "17号": 5_014, "7号-": 50_420, "号-3": 137_595}
    assert termstats.fts_query(TARGET, counts) == '"6〕17号-3"'
    # Two rare runs apart: both required. The counts are of folded trigrams, the runs keep the query's case.
    assert termstats.fts_query("AB-2026-XY", {"-20": 90_000, "202": 90_000, "026": 90_000, "26-": 90_000,
                                              "b-2": 90_000, "6-x": 90_000}) == '"AB-" AND "-XY"'


def test_counts_below_zero_ask_for_the_whole_phrase():
    # Counts written by hand: nothing is rarer than a negative count, and an empty FTS5 query would be an error.
    assert termstats.rarer_runs("abcdef", {"bcd": -1}) is None
    assert termstats.fts_query("abcdef", {"bcd": -1}) == '"abcdef"'


def test_a_part_pg_trgm_takes_no_trigram_from_is_never_asked():
    # Three of its words' characters in a row: ASCII letters and digits, CJK ideographs.
    assert all(textsearch._indexable(run) for run in ("17号-3", "5-000123", "〔督查组", "Abc"))
    # Python's isalnum takes ①, ² and ½; glibc's classes (pg_trgm's) do not.
    assert not any(textsearch._indexable(run) for run in ("①②③", "年①②", "〕-〔", "ZG-2", "督查〔", "x²½"))


def _numbers(client, world, q: str) -> list[str]:
    response = client.get("/api/v1/items", params={"q": q}, headers=world.h("sup"))
    assert response.status_code == 200, response.text
    return sorted(i["number"] for i in response.json()["data"])


@contextmanager
def _statements(rt):
    """The (statement, parameters) the list sends while the block runs."""
    seen: list[tuple[str, object]] = []

    def listen(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001 - SQLAlchemy's hook
        seen.append((statement, parameters))

    sa.event.listen(rt.store.reader, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        sa.event.remove(rt.store.reader, "before_cursor_execute", listen)


def _asked(rt, sent: list[tuple[str, object]]) -> list[str]:
    """What the text index was asked for: FTS5 queries (SQLite), the texts of the ILIKEs an index may serve
    (PostgreSQL: those on a column itself, not on the column joined to an empty text)."""
    if rt.store.is_sqlite:
        return [parameters[0] for statement, parameters in sent if "MATCH" in statement]
    asked = []
    for statement, parameters in sent:
        for name in re.findall(r"items\.number ILIKE %\((\w+)\)s", statement):
            asked.append(parameters[name].strip("%"))
    return asked


@pytest.fixture
def reports(client, world):
    """Items under inspection reports' numbers: the year's trigrams in all of them, 17号-3 in three."""
    made = {title: new_item(client, world, title=f"{title} 整改不到位")
            for title in ("督查〔2026〕11号", "督查〔2026〕12号", "督查〔2026〕13号", TARGET, "巡察〔2025〕17号-3",
                          "审计〔2024〕17号-3")}
    return {title: item["number"] for title, item in made.items()}


@SQLITE
def test_a_long_query_reads_its_rarer_part_and_answers_as_the_whole_phrase(client, world, rt, reports,
                                                                          monkeypatch):
    monkeypatch.setattr(termstats, "COMMON", 3)  # this handful of items stands for a million
    monkeypatch.setattr(termstats, "RARER", 1)
    assert termstats.refresh(rt.store) > 0
    with _statements(rt) as sent:
        assert _numbers(client, world, TARGET) == [reports[TARGET]]
    assert _asked(rt, sent) == ['"〕17号-3"']  # the year, 督查〔 and 6〕1 (in four items) are not read
    # Its rarer part is in three items: past MAX_CANDIDATES, the whole phrase is asked after all.
    monkeypatch.setattr(textsearch, "MAX_CANDIDATES", 2)
    with _statements(rt) as sent:
        assert _numbers(client, world, TARGET) == [reports[TARGET]]
    assert _asked(rt, sent) == ['"〕17号-3"', f'"{TARGET}"']


@POSTGRES
def test_postgresql_reads_the_rarer_part_from_its_indexes_and_tests_the_whole_on_the_rows(client, world, rt,
                                                                                           reports, monkeypatch):
    monkeypatch.setattr(termstats, "COMMON", 3)
    monkeypatch.setattr(termstats, "RARER", 1)
    termstats.refresh(rt.store)
    with _statements(rt) as sent:
        assert _numbers(client, world, TARGET) == [reports[TARGET]]
    assert _asked(rt, sent) == ["〕17号-3"]
    [listed] = [statement for statement, _ in sent if "FROM items" in statement and "ORDER BY" in statement]
    assert "items.number || " in listed  # the whole text: tested on the rows, on no index's column
    # A rarer part pg_trgm finds no trigram in (punctuation between single characters) would read the whole
    # index: the whole text is asked instead.
    monkeypatch.setattr(termstats, "rarer_runs", lambda q, counts: ["〕-〔"])
    with _statements(rt) as sent:
        assert _numbers(client, world, TARGET) == [reports[TARGET]]
    assert _asked(rt, sent) == [TARGET]


def test_every_substring_is_found_alike_with_and_without_the_counts(client, world, rt, reports, monkeypatch):
    monkeypatch.setattr(termstats, "COMMON", 2)
    monkeypatch.setattr(termstats, "RARER", 1)
    queries = sorted({title[i:i + n] for title in reports for n in (4, 6, 9) for i in range(len(title) - n + 1)})
    with rt.store.read() as conn:
        texts = {row.number: f"{row.title}\n{row.description or ''}\n{row.number}\n{row.external_ref or ''}".lower()
                 for row in conn.execute(sa.text("SELECT number, title, description, external_ref FROM items"))}
    without = {q: _numbers(client, world, q) for q in queries}
    termstats.refresh(rt.store)
    with _statements(rt) as sent:
        with_counts = {q: _numbers(client, world, q) for q in queries}
    asked = _asked(rt, sent)
    assert set(asked) - {termstats.phrase(q) for q in queries} - set(queries)  # the counts changed what was asked
    assert with_counts == without
    assert without == {q: sorted(n for n, text in texts.items() if q.lower() in text) for q in queries}


def test_the_counts_are_the_items_holding_each_common_trigram(client, world, rt, reports, monkeypatch):
    monkeypatch.setattr(termstats, "COMMON", 3)
    assert termstats.missing(rt.store)
    termstats.refresh(rt.store)
    with rt.store.read() as conn:
        stored = dict(conn.execute(sa.text("SELECT term, items FROM search_terms")).all())
        texts = [" ".join(filter(None, row)).lower() for row in conn.execute(
            sa.text("SELECT title, description, number, external_ref FROM items"))]
    assert stored.pop(termstats.COUNTED) == len(texts)  # the mark that they were counted, and among how many
    assert stored["202"] == sum("202" in text for text in texts) >= 6
    assert stored["17号"] == 3 and "〕11" not in stored  # in one item: not recorded
    assert all(count >= 3 for count in stored.values()) and not termstats.missing(rt.store)
    new_item(client, world, title="督查〔2026〕14号")
    termstats.refresh(rt.store)  # counted again from scratch, not added to
    with rt.store.read() as conn:
        assert conn.execute(sa.text("SELECT items FROM search_terms WHERE term = '202'")).scalar() == stored["202"] + 1


def test_the_scheduler_counts_at_night_and_at_once_when_never_counted(rt, reports):
    job = jobs.scheduler(rt).get_job(jobs.SEARCH_TERMS_JOB)
    assert [str(job.trigger.fields[i]) for i in (5, 6)] == [str(part) for part in jobs.SEARCH_TERMS_AT]
    assert getattr(job, "next_run_time", None) is not None  # never counted: the first run is now
    job.func(rt)
    assert not termstats.missing(rt.store)
    assert getattr(jobs.scheduler(rt).get_job(jobs.SEARCH_TERMS_JOB), "next_run_time", None) is None  # at 03:30
