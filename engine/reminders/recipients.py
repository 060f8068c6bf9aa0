"""Who a notice goes to. The words a workflow file uses, and what each means:

- ``assignee``: the item's named assignee (责任人); with none named, or the one named deactivated since, the
  users with the assignee role in the item's own unit; with nobody there, the unit's leader (below), who can
  name one, so that a reminder never reaches nobody. (Not the assignees of units below: they cannot see the
  item, as a user sees their own unit's items and those below it.)
- ``leader`` (分管领导): the supervisors of the item's unit; a unit without one falls to the nearest unit
  above it that has supervisors, so an escalation never reaches nobody.
- ``supervisor``: every supervisor whose scope covers the item (its unit and the units above it).
- ``verifier``: every verifier whose scope covers the item.
- ``auditor``: every auditor.

Escalation levels climb the unit tree unless the rule names recipients: blue goes to the unit's leader,
orange to the supervisors of the unit above (the nearest above that has any), red to the supervisors of
the top unit and to the auditors. Deactivated users receive nothing; one named as an item's assignee is stood
in for as above.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa

from engine.models import Unit, User

_users, _units = User.__table__, Unit.__table__
# Where an escalation level climbs to when its rule names nobody.
_LEVEL_REACH = {"blue": "leader", "orange": "parent", "red": "top"}


@dataclass(frozen=True)
class Person:
    """An active user as the notices see them."""

    username: str
    roles: frozenset[str]
    unit_path: str
    email: str | None


@lru_cache(maxsize=4096)
def _ancestors(path: str) -> list[str]:
    """The unit's own path and those above it, nearest first: '/1/4/9/' -> ['/1/4/9/', '/1/4/', '/1/']."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:n]) + "/" for n in range(len(parts), 0, -1)]


class Directory:
    """The active users by unit and role, read once per sweep."""

    def __init__(self, people: list[Person]) -> None:
        self.people = {p.username: p for p in people}
        # The same few unit/assignee combinations recur across thousands of due items in one sweep.
        self._resolved: dict[tuple, list[str]] = {}
        self._by_unit_role: dict[tuple[str, str], list[str]] = {}
        for person in people:
            for role in person.roles:
                self._by_unit_role.setdefault((person.unit_path, role), []).append(person.username)

    @classmethod
    def load(cls, conn: sa.Connection) -> "Directory":
        """Every active user with their unit's path."""
        rows = conn.execute(sa.select(_users.c.username, _users.c.roles, _users.c.email, _units.c.path)
                            .select_from(_users.join(_units, _units.c.id == _users.c.unit_id))
                            .where(_users.c.active.is_(True)))
        return cls([Person(r.username, frozenset(r.roles.split(",")), r.path, r.email) for r in rows])

    def in_unit(self, role: str, unit_path: str) -> list[str]:
        """Users with ``role`` whose unit is exactly this one."""
        return self._by_unit_role.get((unit_path, role), [])

    def nearest(self, role: str, unit_path: str) -> list[str]:
        """Users with ``role`` in the nearest unit at or above this one that has any."""
        for path in _ancestors(unit_path):
            found = self.in_unit(role, path)
            if found:
                return found
        return []

    def covering(self, role: str, unit_path: str) -> list[str]:
        """Users with ``role`` in this unit or any unit above it."""
        return [u for path in _ancestors(unit_path) for u in self.in_unit(role, path)]

    def with_role(self, role: str) -> list[str]:
        """Every active user with ``role``."""
        return [p.username for p in self.people.values() if role in p.roles]

    def _assignees(self, assignee: str | None, unit_path: str) -> list[str]:
        if assignee is not None and assignee in self.people:
            return [assignee]
        # Nobody named, or the one named has left (deactivated): the unit's own people must hear of it instead.
        return self.in_unit("assignee", unit_path) or self.nearest("supervisor", unit_path)

    def resolve(self, words: tuple[str, ...] | list[str], *, assignee: str | None, unit_path: str) -> list[str]:
        """The usernames ``words`` mean for an item of this unit with this named assignee, sorted, once each."""
        key = (tuple(words), assignee, unit_path)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(words, assignee, unit_path)
        return self._resolved[key]

    def _resolve(self, words, assignee: str | None, unit_path: str) -> list[str]:
        found: set[str] = set()
        for word in words:
            if word == "assignee":
                found.update(self._assignees(assignee, unit_path))
            elif word == "leader":
                found.update(self.nearest("supervisor", unit_path))
            elif word in ("supervisor", "verifier"):
                found.update(self.covering(word, unit_path))
            elif word == "auditor":
                found.update(self.with_role("auditor"))
        return sorted(found)

    def escalation(self, level: str, notify: tuple[str, ...] | list[str], *, assignee: str | None,
                   unit_path: str) -> list[str]:
        """Who an escalation of ``level`` reaches: the rule's own words, else up the unit tree by level."""
        key = (level, tuple(notify), assignee, unit_path)
        if key not in self._resolved:
            self._resolved[key] = self._escalation(level, notify, assignee, unit_path)
        return self._resolved[key]

    def _escalation(self, level: str, notify, assignee: str | None, unit_path: str) -> list[str]:
        if notify:
            return self.resolve(notify, assignee=assignee, unit_path=unit_path)
        reach = _LEVEL_REACH[level]
        if reach == "leader":
            return sorted(set(self.nearest("supervisor", unit_path)))
        if reach == "parent":
            above = _ancestors(unit_path)[1:]
            found = next((self.in_unit("supervisor", p) for p in above if self.in_unit("supervisor", p)), [])
            return sorted(set(found or self.nearest("supervisor", unit_path)))
        top = _ancestors(unit_path)[-1]
        found = set(self.in_unit("supervisor", top) or self.nearest("supervisor", unit_path))
        return sorted(found | set(self.with_role("auditor")))
