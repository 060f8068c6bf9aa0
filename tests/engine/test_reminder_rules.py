"""Pure checks of the reminder rules and of who receives notices: no database, no HTTP."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from engine.definitions.workflow import WorkflowDef
from engine.reminders.recipients import Directory, Person
from engine.reminders.rules import Clock, first_due, plan

TZ = ZoneInfo("Asia/Shanghai")
ENTERED = dt.datetime(2026, 3, 2, 2, tzinfo=dt.timezone.utc)


def _workflow(reminders: list[dict], escalation: list[dict]) -> WorkflowDef:
    return WorkflowDef.model_validate({
        "name": "w", "version": 1, "title": {"zh": "测试", "en": "Test"}, "initial": "open",
        "states": [{"name": "open", "title": {"zh": "整改中", "en": "Open"}, "due": {"field": "due_date"},
                    "reminders": reminders, "escalation": escalation},
                   {"name": "done", "title": {"zh": "已销号", "en": "Done"}, "final": True}],
        "transitions": [{"trigger": "finish", "source": "open", "dest": "done", "roles": ["supervisor"]}]})


def _local(day: str, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), TZ)


def _due(wf: WorkflowDef, deadline: str, now: str, hour: int = 10) -> list[tuple[str, str | None, str]]:
    result = plan(wf, Clock("i", "open", ENTERED, dt.date.fromisoformat(deadline)), _local(now, hour), tz=TZ, hour=9)
    return [(p.kind, p.level, p.due_at.astimezone(TZ).date().isoformat()) for p in result.due]


def test_a_days_based_reminder_landing_on_a_holiday_moves_to_the_working_day_before():
    wf = _workflow([{"before": "P5D", "notify": ["assignee"]}], [])
    # 5 calendar days before Wednesday 25 Feb 2026 is Friday 20 Feb, inside the Spring Festival holiday.
    assert _due(wf, "2026-02-25", "2026-02-20") == [("reminder.due_soon", None, "2026-02-14")]


def test_weekly_overdue_reminders_skip_to_working_days_and_never_twice_a_day():
    wf = _workflow([{"overdue_every": "1 day", "notify": ["assignee"]}], [])
    clock = Clock("i", "open", ENTERED, dt.date(2026, 3, 6))  # a Friday
    saturday = plan(wf, clock, _local("2026-03-07", 12), tz=TZ, hour=9)
    assert saturday.due == [] and saturday.next_at.astimezone(TZ) == _local("2026-03-09")
    monday = plan(wf, clock, _local("2026-03-09", 12), tz=TZ, hour=9)
    assert [p.key.rsplit("/", 1)[1] for p in monday.due] == ["2026-03-09"]  # Sat, Sun and Mon folded into one
    assert monday.next_at.astimezone(TZ) == _local("2026-03-10")


def test_nothing_is_due_before_the_office_hour():
    wf = _workflow([{"overdue_every": "1 day", "notify": ["assignee"]}], [{"after_overdue": "1 working day",
                                                                           "level": "blue"}])
    assert _due(wf, "2026-03-06", "2026-03-09", hour=8) == []
    assert _due(wf, "2026-03-06", "2026-03-09", hour=9) == [("reminder.overdue", None, "2026-03-09"),
                                                            ("escalation.issued", "blue", "2026-03-09")]


def test_final_and_clockless_states_have_no_notices():
    wf = _workflow([{"overdue_every": "1 day", "notify": ["assignee"]}], [])
    assert plan(wf, Clock("i", "done", ENTERED, dt.date(2026, 3, 6)), _local("2026-04-01"), tz=TZ, hour=9).due == []
    assert first_due(wf, Clock("i", "open", ENTERED, None), tz=TZ, hour=9) is None


PEOPLE = [Person("top_sup", frozenset({"supervisor"}), "/1/", None),
          Person("aud", frozenset({"auditor"}), "/1/", None),
          Person("dept_asg", frozenset({"assignee"}), "/1/2/", None),
          Person("sub_asg", frozenset({"assignee"}), "/1/2/3/", None),
          Person("sub_ver", frozenset({"verifier"}), "/1/2/3/", None)]


def test_a_unit_without_a_supervisor_reaches_the_nearest_one_above():
    directory = Directory(PEOPLE)
    # Unit /1/2/3/ has no supervisor, nor has /1/2/: its leader and every level climb to the top unit.
    assert directory.resolve(["leader"], assignee=None, unit_path="/1/2/3/") == ["top_sup"]
    assert directory.escalation("blue", (), assignee=None, unit_path="/1/2/3/") == ["top_sup"]
    assert directory.escalation("orange", (), assignee=None, unit_path="/1/2/3/") == ["top_sup"]
    assert directory.escalation("red", (), assignee=None, unit_path="/1/2/3/") == ["aud", "top_sup"]


def test_unnamed_assignees_are_the_units_own_and_named_words_are_honoured():
    directory = Directory(PEOPLE)
    assert directory.resolve(["assignee"], assignee=None, unit_path="/1/2/3/") == ["sub_asg"]
    assert directory.resolve(["assignee"], assignee=None, unit_path="/1/2/") == ["dept_asg"]
    # The one named was deactivated: the unit's own assignees stand in, not nobody.
    assert directory.resolve(["assignee"], assignee="gone.user", unit_path="/1/2/") == ["dept_asg"]
    # A unit with no assignee of its own: its leader (the nearest supervisors), who can name one; not the
    # assignees of the units below, who cannot see the item.
    assert directory.resolve(["assignee"], assignee="gone.user", unit_path="/1/") == ["top_sup"]
    assert directory.resolve(["assignee"], assignee=None, unit_path="/1/9/") == ["top_sup"]
    assert directory.resolve(["verifier", "auditor"], assignee=None, unit_path="/1/2/3/") == ["aud", "sub_ver"]
    # An escalation rule that names its recipients is not climbed.
    assert directory.escalation("red", ("verifier",), assignee=None, unit_path="/1/2/3/") == ["sub_ver"]


def test_an_escalation_rule_carries_its_named_recipients_into_the_plan():
    wf = _workflow([], [{"after_overdue": "1 working day", "level": "orange", "notify": ["auditor"]}])
    [notice] = plan(wf, Clock("i", "open", ENTERED, dt.date(2026, 3, 6)), _local("2026-03-10"), tz=TZ, hour=9).due
    assert notice.notify == ("auditor",) and notice.level == "orange"
