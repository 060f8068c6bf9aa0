"""Static checks of workflow files: every kind of mistake is refused naming the file, the key and the problem.

Each bad file is a copy of workflows/standard.yaml with one thing broken, written into tmp_path. The same
files are fed to the loader and to ``closeloop workflows check``; the bundled folder passes both, and
``closeloop workflows graph`` draws every state and transition.
"""
from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from typer.testing import CliRunner

from api.cli import app
from engine.config import BUNDLED_WORKFLOWS, Settings
from engine.definitions import load_path
from engine.errors import WorkflowError
from engine.runtime import Runtime
from engine.store import Store

STANDARD = BUNDLED_WORKFLOWS / "standard.yaml"
CLOSELOOP = Path(sys.executable).parent / "closeloop"
CJK = re.compile(r"[\u4e00-\u9fff]")
runner = CliRunner()


def _base() -> dict:
    return yaml.safe_load(STANDARD.read_text(encoding="utf-8"))


def _transition(d: dict, trigger: str) -> dict:
    return next(t for t in d["transitions"] if t["trigger"] == trigger)


def _index(d: dict, trigger: str) -> int:
    return next(i for i, t in enumerate(d["transitions"]) if t["trigger"] == trigger)


def _state(name: str, **extra) -> dict:
    return {"name": name, "title": {"zh": "测试", "en": "Test"}, **extra}


def _add(key: str, value):
    return lambda d: d[key].append(value)


def _set_in_transition(trigger: str, key: str, value):
    return lambda d: _transition(d, trigger).__setitem__(key, value)


def _no_finals(d: dict) -> None:
    for state in d["states"]:
        state.pop("final", None)


N = len(_base()["transitions"])   # index of an appended transition
S = len(_base()["states"])        # index of an appended state
ACCEPT, REQ_EXT = _index(_base(), "accept"), _index(_base(), "request_extension")

# id, how to break the file, the key path the message must name, words the message must contain
CASES = [
    ("unknown-source-state", _set_in_transition("accept", "source", "nowhere"),
     f"transitions[{ACCEPT}].source[0]", ["unknown state", "nowhere"]),
    ("unknown-dest-state", _set_in_transition("accept", "dest", "fixing"),
     f"transitions[{ACCEPT}].dest", ["unknown state", "fixing"]),
    ("unknown-initial-state", lambda d: d.__setitem__("initial", "start"), "initial", ["unknown state", "start"]),
    ("unknown-guard", lambda d: _transition(d, "request_extension")["guards"].append("no_such_guard"),
     f"transitions[{REQ_EXT}].guards[2]", ["unknown guard", "no_such_guard"]),
    ("unknown-role", _set_in_transition("accept", "roles", ["assignee", "mayor"]),
     f"transitions[{ACCEPT}].roles[1]", ["mayor"]),
    ("unknown-effect", _set_in_transition("accept", "effects", ["launch_rockets"]),
     f"transitions[{ACCEPT}].effects[0]", ["unknown effect", "launch_rockets"]),
    ("unknown-requirement", _set_in_transition("accept", "requires", ["signature"]),
     f"transitions[{ACCEPT}].requires", ["unknown requirement", "signature"]),
    ("unknown-field", _set_in_transition("accept", "fields", ["colour"]),
     f"transitions[{ACCEPT}].fields", ["unknown field", "colour"]),
    ("unreachable-state", lambda d: (d["states"].append(_state("orphan")), d["transitions"].append(
        {"trigger": "finish", "source": "orphan", "dest": "closed", "roles": ["supervisor"]})),
     f"states[{S}].name", ["orphan", "unreachable"]),
    ("state-with-no-way-out", lambda d: (d["states"].append(_state("limbo")), d["transitions"].append(
        {"trigger": "stall", "source": "rectifying", "dest": "limbo", "roles": ["assignee"]})),
     f"states[{S}].name", ["limbo", "no way to a final state"]),
    ("final-state-with-outgoing-transition", _add("transitions", {
        "trigger": "revive", "source": "cancelled", "dest": "identified", "roles": ["supervisor"]}),
     f"transitions[{N}].source[0]", ["final state", "cancelled", "revive"]),
    ("duplicate-trigger-from-one-source", _add("transitions", {
        "trigger": "accept", "source": "assigned", "dest": "cancelled", "roles": ["supervisor"]}),
     f"transitions[{N}].trigger", ["duplicate trigger", "accept", "assigned"]),
    ("duplicate-state", lambda d: d["states"].append(copy.deepcopy(d["states"][1])),
     f"states[{S}].name", ["duplicate state", "assigned"]),
    ("no-final-state", _no_finals, "states", ["no state is marked final"]),
    ("bad-duration-words", lambda d: d["states"][0]["due"].__setitem__("within", "2 fortnights"),
     "states[0].due.within", ["not a duration", "2 fortnights"]),
    ("bad-duration-iso", lambda d: d["states"][0]["due"].__setitem__("within", "P3X"),
     "states[0].due.within", ["not a duration", "P3X"]),
    ("unknown-top-level-key", lambda d: d.__setitem__("colour", "red"), "colour", ["unknown key"]),
    ("unknown-state-key", lambda d: d["states"][0].__setitem__("timeout", "P1D"), "states[0].timeout", ["unknown key"]),
    ("unknown-transition-key", _set_in_transition("accept", "when", "always"),
     f"transitions[{ACCEPT}].when", ["unknown key"]),
    ("missing-title", lambda d: d.pop("title"), "title", ["Field required"]),
    # The version is shown beside every item and in the audit bundle: a word, not blank text or a paragraph.
    ("empty-version", lambda d: d.__setitem__("version", ""), "version", ["1-32 characters"]),
    ("blank-version", lambda d: d.__setitem__("version", "  "), "version", ["without spaces"]),
    ("multi-line-version", lambda d: d.__setitem__("version", "2\n3"), "version", ["without spaces"]),
    ("long-version", lambda d: d.__setitem__("version", "9" * 33), "version", ["1-32 characters"]),
    ("dotted-version-unquoted", lambda d: d.__setitem__("version", 2026.1), "version", ['in quotes ("2026.1")']),
]
# id, raw bytes of the file, words the message must contain
RAW_CASES = [
    ("invalid-yaml", b"name: standard\nstates: [unclosed\ntransitions: {\n", ["not valid YAML"]),
    ("tab-indented-yaml", b"name: standard\n\tversion: 1\n", ["not valid YAML"]),
    ("not-a-mapping", b"- identified\n- closed\n", ["must be a mapping"]),
    ("empty-file", b"", ["must be a mapping"]),
    ("not-utf8", STANDARD.read_text(encoding="utf-8").encode("gbk"), ["not UTF-8"]),
    # Deeper than Python's recursion limit: refused as YAML, not a RecursionError out of the loader.
    ("nested-too-deep", b"name: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["not valid YAML", "nesting depth"]),
]


def _write(folder: Path, name: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(WorkflowError) as refused:
        load_path(path)
    return refused.value.problems


@pytest.mark.parametrize("case_id, mutate, key, words", CASES, ids=[c[0] for c in CASES])
def test_broken_file_is_refused_naming_file_key_and_problem(tmp_path, case_id, mutate, key, words):
    data = _base()
    mutate(data)
    path = _write(tmp_path, case_id, data)
    problems = _problems(path)
    matching = [p for p in problems if re.match(rf"{re.escape(str(path))}:\d+: {re.escape(key)}: ", p)]
    assert matching, f"no problem at {key}: {problems}"
    assert any(all(w in p for w in words) for p in matching), problems

    result = runner.invoke(app, ["workflows", "check", str(path)])
    assert result.exit_code != 0
    assert any(str(path) in line and key in line and all(w in line for w in words)
               for line in result.stderr.splitlines()), result.stderr


@pytest.mark.parametrize("case_id, raw, words", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_unreadable_file_is_refused_naming_file_and_problem(tmp_path, case_id, raw, words):
    path = tmp_path / f"{case_id}.yaml"
    path.write_bytes(raw)
    problems = _problems(path)
    assert any(p.startswith(str(path)) and all(w in p for w in words) for p in problems), problems
    result = runner.invoke(app, ["workflows", "check", str(path)])
    assert result.exit_code != 0 and str(path) in result.stderr and words[0] in result.stderr


def test_the_reported_line_is_the_broken_line(tmp_path):
    text = STANDARD.read_text(encoding="utf-8").replace("dest: assigned,", "dest: asigned,", 1)
    path = tmp_path / "standard.yaml"
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "dest: asigned" in row)
    assert any(p.startswith(f"{path}:{line}: transitions[0].dest: unknown state 'asigned'") for p in _problems(path))


def test_two_files_with_the_same_workflow_name_are_refused(tmp_path):
    _write(tmp_path, "standard", _base())
    _write(tmp_path, "standard_copy", _base())
    problems = _problems(tmp_path)
    assert any("standard_copy.yaml" in p and "standard.yaml" in p and "'standard'" in p and "also defined" in p
               for p in problems), problems
    result = runner.invoke(app, ["workflows", "check", str(tmp_path)])
    assert result.exit_code != 0 and "also defined" in result.stderr


def test_every_problem_of_every_file_is_listed_at_once(tmp_path):
    one, two = _base(), _base()
    one["initial"] = "start"
    two["name"], two["colour"] = "other", "red"
    _write(tmp_path, "one", one)
    _write(tmp_path, "two", two)
    problems = _problems(tmp_path)
    assert any("one.yaml" in p and "initial" in p for p in problems)
    assert any("two.yaml" in p and "colour" in p for p in problems)


def test_console_script_check_exits_non_zero_naming_file_key_and_problem(tmp_path):
    data = _base()
    _transition(data, "accept")["dest"] = "fixing"
    path = _write(tmp_path, "broken", data)
    done = subprocess.run([str(CLOSELOOP), "workflows", "check", str(path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode != 0
    assert re.search(rf"{re.escape(str(path))}:\d+: transitions\[{ACCEPT}\]\.dest: unknown state 'fixing'", done.stderr)


def test_console_script_check_passes_the_bundled_folder():
    done = subprocess.run([str(CLOSELOOP), "workflows", "check", str(BUNDLED_WORKFLOWS)], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert {line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok:")} == \
        {"immediate", "long_term", "standard"}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_graph_prints_every_state_and_transition_as_mermaid(lang):
    result = runner.invoke(app, ["workflows", "graph", "standard", "--lang", lang])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert lines[0] == "stateDiagram-v2"
    wf = load_path(BUNDLED_WORKFLOWS)["standard"]
    for state in wf.states:
        title = getattr(state.title, lang)
        assert f'state "{title} ({state.name})" as {state.name}' in lines, state.name
    assert f"[*] --> {wf.initial}" in lines
    arrows = {(m[1], m[2], m[3]) for line in lines if (m := re.match(r"^(\w+) --> (\w+) : (\w+)", line))}
    expected = {(source, t.dest, t.trigger) for t in wf.transitions for source in t.source}
    assert arrows == expected
    assert {line for line in lines if line.endswith("--> [*]")} == {f"{s.name} --> [*]" for s in wf.states if s.final}


def test_graph_of_an_unknown_workflow_fails():
    result = runner.invoke(app, ["workflows", "graph", "no_such_workflow"])
    assert result.exit_code != 0 and "no_such_workflow" in result.stderr


def test_bundled_workflows_pass_and_have_chinese_and_english_titles():
    found = load_path(BUNDLED_WORKFLOWS)
    assert {"standard", "immediate", "long_term"} <= set(found)
    for wf in found.values():
        titled = [wf.title, *(s.title for s in wf.states), *(t.title for t in wf.transitions)]
        for title in titled:
            assert title is not None, wf.name
            assert CJK.search(title.zh) and re.search(r"[A-Za-z]", title.en) and not CJK.search(title.en), title
        assert any(s.final for s in wf.states)


def test_a_bad_folder_stops_start_up_before_anything_is_written(db_url, tmp_path):
    data = _base()
    data["initial"] = "start"
    _write(tmp_path, "standard", data)
    with pytest.raises(WorkflowError) as refused:
        Runtime.open(Settings(database_url=db_url, workflows_dir=tmp_path))
    assert "initial: unknown state 'start'" in str(refused.value)
    store = Store(db_url)
    try:
        with store.read() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM workflow_versions")).scalar_one() == 0
    finally:
        store.dispose()


def test_a_key_given_twice_refuses_the_file_naming_each_repeat(tmp_path):
    # YAML keeps the last `roles`: the assignee, not the supervisor, could close items. Refused instead.
    text = STANDARD.read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "trigger: close," in row)
    doubled = text.replace("roles: [supervisor], title: {zh: 销号", "roles: [supervisor], roles: [assignee], "
                           "title: {zh: 销号", 1)
    assert doubled != text
    path = tmp_path / "standard.yaml"
    path.write_text(doubled, encoding="utf-8")
    assert _problems(path) == [f"{path}:{line}: transitions[{_index('close')}].roles: the key is given twice in one "
                               "mapping (YAML would keep only the last)"]


def _index(trigger: str) -> int:
    return [t["trigger"] for t in _base()["transitions"]].index(trigger)


def test_an_unreadable_workflow_file_is_a_problem_not_a_traceback():
    # Reading /proc/self/mem at offset 0 fails with EIO: a read error, as a failing disk gives one.
    mem = Path("/proc/self/mem")
    assert _problems(mem) == [f"{mem}: cannot be read: Input/output error"]


@pytest.mark.parametrize("duration", ["999999999 days", "P999999M", "3661 days", "2601 working days"])
def test_a_duration_longer_than_ten_years_is_refused_with_its_line(tmp_path, duration):
    # It passed the check and then failed the first item on the workflow: no date holds where it leads.
    data = _base()
    data["due_date"] = {"max": duration}
    data["states"][0]["due"] = {"within": duration}
    path = _write(tmp_path, "long", data)
    problems = _problems(path)
    for key in ("due_date.max", "states[0].due.within"):
        assert any(re.match(rf"{re.escape(str(path))}:\d+: {re.escape(key)}: .*longer than ten years", p)
                   for p in problems), (key, problems)


def test_a_device_is_named_as_no_workflow_file():
    assert _problems(Path("/dev/zero")) == ["/dev/zero: not a regular file or a folder"]


@pytest.mark.parametrize("version", ["", "2026 rev", "9" * 40])
def test_a_stored_version_from_before_the_version_rule_still_loads(version):
    # The rule is a file's: a version stored before it keeps loading, or its items could no longer move and
    # verification would call it broken.
    from engine.audit.verify import check_workflow_row
    from engine.canonical import sha256_hex

    definition = load_path(STANDARD)["standard"]
    stored = definition.model_copy(update={"version": version}).canonical()
    loaded, problem = check_workflow_row(sha256_hex(stored.encode()), stored)
    assert problem is None and loaded.version == version
