"""The pure rules alone, without a database or the API: durations, working days, the traffic light, guards."""
from __future__ import annotations

import datetime as dt
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import guards
from engine.deadlines import light
from engine.durations import Duration, add_months, parse_duration
from engine.guards import GuardContext
from engine.workdays import add_duration, add_working_days, is_working_day, working_days_between

TODAY = dt.date(2026, 3, 2)
# Days with an official schedule (chinesecalendar covers 2026), holidays and make-up working days included. The
# latest start leaves room for 40 working days before the year ends: 2027 has no official schedule yet, and its
# first look-up (a guess computed by the holidays package, with a warning) is slow enough to trip Hypothesis's
# deadline.
DAYS_2026 = st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 10, 31))


@pytest.mark.parametrize(("text", "expected"), [
    ("P3D", Duration(3, "days")), ("p2w", Duration(14, "days")), ("P1M", Duration(1, "months")),
    ("2 working days", Duration(2, "working_days")), ("1  Workday", Duration(1, "working_days")),
    ("3 weeks", Duration(21, "days")), ("1 month", Duration(1, "months")), (" 10 days ", Duration(10, "days")),
])
def test_durations_are_read_in_both_forms_workflow_files_use(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "3", "P3Y", "-1 days", "3 fortnights", "P1.5D", "三天", "P3D extra"])
def test_anything_else_is_refused_naming_the_accepted_forms(text):
    with pytest.raises(ValueError, match="use ISO 8601 like 'P3D'"):
        parse_duration(text)


@pytest.mark.parametrize(("day", "months", "expected"), [
    (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)), (dt.date(2028, 1, 31), 1, dt.date(2028, 2, 29)),
    (dt.date(2026, 12, 15), 1, dt.date(2027, 1, 15)), (dt.date(2026, 3, 31), -1, dt.date(2026, 2, 28)),
    (dt.date(2026, 5, 31), 12, dt.date(2027, 5, 31)),
])
def test_a_month_later_is_the_same_day_or_the_months_last(day, months, expected):
    assert add_months(day, months) == expected


@given(st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)), st.integers(-60, 60))
def test_adding_months_moves_the_month_by_exactly_that_many_and_never_past_the_day(day, months):
    later = add_months(day, months)
    assert (later.year * 12 + later.month) - (day.year * 12 + day.month) == months
    assert later.day <= day.day


# No deadline: the first look-up of a year reads its schedule once, which is not what is measured here.
@settings(deadline=None)
@given(DAYS_2026, st.integers(0, 40))
def test_working_days_counted_between_undo_working_days_added(start, count):
    end = add_working_days(start, count)
    assert end.year == 2026  # on the official schedule only
    assert working_days_between(start, end) == count
    assert working_days_between(end, start) == -count
    assert count == 0 or is_working_day(end)


@settings(deadline=None)
@given(DAYS_2026, st.integers(1, 40))
def test_working_days_are_never_fewer_calendar_days(start, count):
    assert (add_duration(start, Duration(count, "working_days")) - start).days >= count
    assert add_duration(start, Duration(count, "days")) == start + dt.timedelta(days=count)


@pytest.mark.parametrize(("deadline", "expected"), [
    (None, ("none", 0)), (TODAY + dt.timedelta(days=4), ("green", 0)), (TODAY + dt.timedelta(days=3), ("yellow", 0)),
    (TODAY, ("yellow", 0)), (TODAY - dt.timedelta(days=1), ("red", 1)), (TODAY - dt.timedelta(days=30), ("red", 30)),
])
def test_the_light_turns_yellow_within_the_warning_days_and_red_the_day_after_the_deadline(deadline, expected):
    assert light(deadline, TODAY, yellow_days=3) == expected


def _ctx(*, actor: str = "sup", item: dict | None = None, **fields) -> GuardContext:
    item = {"unit_code": "EDU", "assignee": "doer", "due_date": TODAY + dt.timedelta(days=10), "submitted_by": None,
            **(item or {})}
    return GuardContext(actor=actor, roles=frozenset({"supervisor"}), item=item, comment=None, evidence=[],
                        fields=MappingProxyType(fields), today=TODAY, max_due=parse_duration("P7D"))


LATER, EARLIER = TODAY + dt.timedelta(days=20), TODAY + dt.timedelta(days=5)
# (guard, a context it lets pass, a context it refuses, words its refusal must hold)
CASES = [
    ("not_submitter", _ctx(actor="ver", item={"submitted_by": "doer"}), _ctx(actor="doer", item={"submitted_by": "doer"}),
     "may not verify"),
    ("before_deadline", _ctx(), _ctx(item={"due_date": TODAY - dt.timedelta(days=1)}), "has passed"),
    ("later_due_date", _ctx(new_due_date=LATER), _ctx(new_due_date=EARLIER), "must be later"),
    ("within_max_due", _ctx(due_date=TODAY + dt.timedelta(days=7)), _ctx(due_date=TODAY + dt.timedelta(days=8)),
     "later than this workflow allows"),
    ("has_assignee", _ctx(item={"assignee": None}, assignee="doer"), _ctx(item={"assignee": None}), "no assignee"),
    ("changes_hands", _ctx(unit="HEALTH"), _ctx(unit="EDU", assignee="doer"), "already with EDU"),
]


@pytest.mark.parametrize(("name", "passes", "refused", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_guard_passes_what_it_should_and_refuses_with_its_reason(name, passes, refused, words):
    check = guards.REGISTRY[name].check
    assert check(passes) is None
    assert words in check(refused)


def test_every_registered_guard_is_tried_here_and_says_why_it_exists():
    assert {c[0] for c in CASES} == set(guards.REGISTRY)
    assert all(len((spec.check.__doc__ or "").strip()) > 20 for spec in guards.REGISTRY.values())
