"""The shared machine alone, without a database: a trigger gives the new state or a named Refusal."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import MappingProxyType

import pytest

from engine.definitions.loader import load_path
from engine.guards import GuardContext
from engine.machine import Refusal, compile_workflow

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
TODAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def immediate():
    return compile_workflow(load_path(WORKFLOWS)["immediate"])


def context(*, item: dict | None = None, comment: str | None = None, fields: dict | None = None) -> GuardContext:
    item = {"unit_code": "EDU", "assignee": "doer", "due_date": TODAY + dt.timedelta(days=5), **(item or {})}
    return GuardContext(actor="sup", roles=frozenset({"supervisor"}), item=item, comment=comment, evidence=[],
                        fields=MappingProxyType(fields or {}), today=TODAY, max_due=None)


def test_a_trigger_whose_conditions_hold_gives_the_new_state(immediate):
    assert immediate.fire("rectifying", "report_progress", context(comment="本周完成 2 处")) == "rectifying"
    assert immediate.fire("identified", "assign", context()) == "assigned"


def test_a_missing_requirement_is_refused_by_name(immediate):
    outcome = immediate.fire("rectifying", "report_progress", context(comment=" \u200b "))
    assert outcome == Refusal("requires", "'report_progress' requires comment")


def test_a_rule_guard_refuses_with_its_own_name_and_reason(immediate):
    outcome = immediate.fire("rectifying", "transfer", context(comment="转办", fields={"unit": "EDU"}))
    assert isinstance(outcome, Refusal) and outcome.guard == "changes_hands"
    assert "already with EDU" in outcome.reason


def test_the_same_machine_serves_every_call_without_keeping_state(immediate):
    refused = immediate.fire("rectifying", "report_progress", context())
    assert isinstance(refused, Refusal)
    assert immediate.fire("rectifying", "report_progress", context(comment="进展")) == "rectifying"
