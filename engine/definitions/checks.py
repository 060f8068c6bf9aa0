"""Static checks of a parsed workflow: mistakes that would otherwise surface at the first call."""
from __future__ import annotations

from collections import deque

from engine import effects, guards
from engine.definitions.workflow import WorkflowDef

Problem = tuple[tuple, str]


def _version_problems(version: str) -> list[Problem]:
    # Shown beside every item, in the ledger and the audit bundle: one short word. A file's rule only: versions
    # stored before it keep loading, or the items started on them could no longer move.
    if not 1 <= len(version) <= 32:
        return [(("version",), 'a version is 1-32 characters, such as 2 or "2026.1"')]
    if not version.isprintable() or any(c.isspace() for c in version):
        return [(("version",), 'a version is written without spaces or control characters, such as 2 or "2026.1"')]
    return []


def static_problems(wf: WorkflowDef) -> list[Problem]:
    """Every structural problem of ``wf``, each with the key path it is about."""
    problems: list[Problem] = _version_problems(wf.version)
    names = [s.name for s in wf.states]
    known = set(names)
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((("states", i, "name"), f"duplicate state {name!r}"))
    if wf.initial not in known:
        problems.append((("initial",), f"unknown state {wf.initial!r}"))
    finals = {s.name for s in wf.states if s.final}
    if not finals:
        problems.append((("states",), "no state is marked final: items could never leave the loop"))
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(wf.transitions):
        for j, source in enumerate(t.source):
            if source not in known:
                problems.append((("transitions", i, "source", j), f"unknown state {source!r}"))
            elif source in finals and t.trigger != "reopen":
                problems.append((("transitions", i, "source", j),
                                 f"final state {source!r} has an outgoing transition ({t.trigger!r}); "
                                 "only 'reopen' may leave a final state"))
            key = (t.trigger, source)
            if key in seen:
                problems.append((("transitions", i, "trigger"),
                                 f"duplicate trigger {t.trigger!r} from {source!r} (also transitions[{seen[key]}])"))
            seen.setdefault(key, i)
        if t.dest not in known:
            problems.append((("transitions", i, "dest"), f"unknown state {t.dest!r}"))
        for j, name in enumerate(t.guards):
            if name not in guards.REGISTRY:
                problems.append((("transitions", i, "guards", j),
                                 f"unknown guard {name!r} (known: {', '.join(sorted(guards.REGISTRY))})"))
        for j, name in enumerate(t.effects):
            if name not in effects.REGISTRY:
                problems.append((("transitions", i, "effects", j),
                                 f"unknown effect {name!r} (known: {', '.join(sorted(effects.REGISTRY))})"))
    if problems:
        return problems
    problems += _reachability(wf, finals)
    return problems


def _reachability(wf: WorkflowDef, finals: set[str]) -> list[Problem]:
    """States no item can reach, and states from which no final state can be reached."""
    out: dict[str, set[str]] = {s.name: set() for s in wf.states}
    into: dict[str, set[str]] = {s.name: set() for s in wf.states}
    for t in wf.transitions:
        for source in t.source:
            out[source].add(t.dest)
            into[t.dest].add(source)
    reachable = _closure({wf.initial}, out)
    finishing = _closure(finals, into)
    problems: list[Problem] = []
    for i, state in enumerate(wf.states):
        if state.name not in reachable:
            problems.append((("states", i, "name"), f"state {state.name!r} is unreachable from {wf.initial!r}"))
        elif state.name not in finishing:
            problems.append((("states", i, "name"), f"state {state.name!r} has no way to a final state"))
    return problems


def _closure(start: set[str], edges: dict[str, set[str]]) -> set[str]:
    seen, queue = set(start), deque(start)
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen
