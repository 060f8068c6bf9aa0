"""The workflows a process knows: the current file of each name, and every version items still use."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import sqlalchemy as sa

from engine.audit import admin_log
from engine.audit.actors import system_actor
from engine.audit.verify import check_workflow_row
from engine.clock import Clock
from engine.definitions import WorkflowDef, load_path
from engine.errors import IntegrityViolation
from engine.machine import CompiledWorkflow, compile_workflow
from engine.models import WorkflowVersion
from engine.store import Store

_versions = WorkflowVersion.__table__
log = logging.getLogger("closeloop.workflows")


class UnknownWorkflow(KeyError):
    """No workflow of that name (or version) is known."""


class UntrustedWorkflow(IntegrityViolation):
    """A stored workflow version does not match its hash; items on it are refused until it is restored."""


class WorkflowRegistry:
    """Compiled workflows by content hash, and which hash is current for each name."""

    def __init__(self) -> None:
        self._by_hash: dict[str, CompiledWorkflow] = {}
        self._current: dict[str, str] = {}
        # Stored versions whose content does not match their hash: never loaded, never acted on.
        self.untrusted: dict[str, str] = {}
        # Reads a version recorded by another process after this one started (see sync_workflows).
        self._fetch: Callable[[str], WorkflowDef | None] | None = None

    @classmethod
    def from_definitions(cls, definitions: dict[str, WorkflowDef],
                         stored: list[tuple[str, WorkflowDef]] = ()) -> "WorkflowRegistry":
        """A registry of the given current definitions plus older stored versions (with their stored hashes)."""
        registry = cls()
        for content_hash, definition in stored:
            registry._add(definition, content_hash)
        for name, definition in definitions.items():
            registry._current[name] = registry._add(definition).hash
        return registry

    def _add(self, definition: WorkflowDef, content_hash: str | None = None) -> CompiledWorkflow:
        # A stored version keeps the hash it was stored under: re-serialising it with a newer schema (a new
        # optional key) would give another hash, and its items would lose their rules.
        content_hash = content_hash or definition.content_hash()
        if content_hash not in self._by_hash:
            self._by_hash[content_hash] = compile_workflow(definition, content_hash)
        return self._by_hash[content_hash]

    def current(self, name: str) -> CompiledWorkflow:
        """The version new items of ``name`` start on."""
        try:
            return self._by_hash[self._current[name]]
        except KeyError:
            raise UnknownWorkflow(name) from None

    def by_hash(self, content_hash: str) -> CompiledWorkflow:
        """The exact version an item started on (fetched from the database if another process recorded it)."""
        try:
            return self._by_hash[content_hash]
        except KeyError:
            pass
        if content_hash in self.untrusted:
            raise UntrustedWorkflow(f"workflow version {content_hash[:12]} is refused: "
                                    f"{self.untrusted[content_hash]}; run `closeloop audit verify`")
        definition = self._fetch(content_hash) if self._fetch is not None else None
        if definition is None:
            raise UnknownWorkflow(content_hash)
        return self._add(definition, content_hash)

    def names(self) -> list[str]:
        """Names of the current workflows, sorted."""
        return sorted(self._current)

    def known_names(self) -> list[str]:
        """Every workflow name an item may carry: the current files and the older stored versions, sorted."""
        return sorted({c.definition.name for c in self._by_hash.values()})

    def known_states(self) -> list[str]:
        """Every state of every known version, sorted: the values an item's state can take."""
        return sorted({s.name for c in self._by_hash.values() for s in c.definition.states})

    def versions(self, name: str) -> list[CompiledWorkflow]:
        """Every known version of ``name``."""
        return [c for c in self._by_hash.values() if c.definition.name == name]


def sync_workflows(store: Store, clock: Clock, path: Path, *, actor: str | None = None) -> WorkflowRegistry:
    """Load and check the workflow files, record any new version, and load every stored version.

    A bad file raises WorkflowError (naming file, key and problem) before anything is written. Each new
    version goes into the admin log (``workflow.load``) under ``actor``, by default ``system:<os user>``.
    """
    actor = actor or system_actor()
    definitions = load_path(path)
    with store.write() as conn:
        known = {r.hash for r in conn.execute(sa.select(_versions.c.hash))}
        for definition in definitions.values():
            content_hash = definition.content_hash()
            if content_hash not in known:
                conn.execute(_versions.insert().values(hash=content_hash, name=definition.name,
                                                       version=definition.version, definition=definition.canonical(),
                                                       created_at=clock.now()))
                admin_log.record(conn, actor=actor, action="workflow.load", target=f"workflow:{definition.name}",
                                 before=None, after={"name": definition.name, "version": definition.version,
                                                     "hash": content_hash}, now=clock.now())
        rows = conn.execute(sa.select(_versions.c.hash, _versions.c.definition)).all()
    stored, untrusted = [], {}
    for row in rows:
        definition, problem = check_workflow_row(row.hash, row.definition)
        if definition is None:
            # Loud, but not fatal: the service keeps serving every item on a trustworthy version.
            log.error("stored workflow version %s is refused: %s", row.hash, problem)
            untrusted[row.hash] = problem
        else:
            stored.append((row.hash, definition))
    registry = WorkflowRegistry.from_definitions(definitions, stored)
    # A file being loaded now vouches for its own hash, whatever the stored copy of it says.
    registry.untrusted = {h: p for h, p in untrusted.items() if h not in registry._by_hash}
    registry._fetch = lambda content_hash: _stored_version(store, registry, content_hash)
    return registry


def _stored_version(store: Store, registry: WorkflowRegistry, content_hash: str) -> WorkflowDef | None:
    """A version from the database (another process may have added it since), checked against its hash."""
    with store.read() as conn:
        text = conn.execute(sa.select(_versions.c.definition).where(_versions.c.hash == content_hash)).scalar()
    if text is None:
        return None
    definition, problem = check_workflow_row(content_hash, text)
    if definition is None:
        log.error("stored workflow version %s is refused: %s", content_hash, problem)
        registry.untrusted[content_hash] = problem
        raise UntrustedWorkflow(f"workflow version {content_hash[:12]} is refused: {problem}; "
                                f"run `closeloop audit verify`")
    return definition
