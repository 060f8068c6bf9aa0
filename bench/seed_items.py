"""The rows bench/seed.py writes: a province's unit tree and its people, and items with their history chains."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

import sqlalchemy as sa

from bench import seed_text as text
from bench.seed_numbers import Numbering
from engine import accounts, history
from engine.canonical import canonical_text
from engine.clock import rfc3339
from engine.deadlines import state_deadline
from engine.inputs import SEVERITIES, SOURCES
from engine.itemrows import new_item_id
from engine.reminders.clock import reminder_clock
from engine.runtime import Runtime
from engine.store.bulk import Rows

WORKFLOWS = (("standard", 0.7), ("immediate", 0.1), ("long_term", 0.2))
# The path to each state: the triggers after "create" (progress reports are added while rectifying).
PATHS = {"identified": (), "assigned": ("assign",), "rectifying": ("assign", "accept"),
         "pending_verification": ("assign", "accept", "submit"),
         "verified": ("assign", "accept", "submit", "approve"),
         "closed": ("assign", "accept", "submit", "approve", "close"), "cancelled": ("cancel",)}
DEST = {"assign": "assigned", "accept": "rectifying", "report_progress": "rectifying",
        "submit": "pending_verification", "approve": "verified", "close": "closed", "cancel": "cancelled"}
OPEN_STATES = ("identified", "assigned", "rectifying", "rectifying", "rectifying", "pending_verification",
               "verified")
CAMPAIGNS = tuple(f"ZX-{year}-{k:02d}" for year in (2025, 2026) for k in range(1, 9))


@dataclass
class World:
    units: dict[str, tuple[int, str]]          # code -> (id, city name)
    leaves: list[str]                           # department codes
    cities: list[str]                           # city codes
    assignees: dict[str, list[str]]             # department code -> assignees


def build_world(rt: Runtime, *, create: bool = True) -> World:
    """The unit tree and its people (made once; a second seed into the same database reuses them)."""
    actor = "seed"
    with rt.store.write() if create else rt.store.read() as conn:
        have = {r.code for r in conn.execute(sa.text("SELECT code FROM units"))}
        if create and PROVINCE_CODE not in have:
            accounts.add_unit(conn, clock=rt.clock, actor=actor, code=PROVINCE_CODE, name=text.PROVINCE[1])
            for role, name in (("supervisor", "sup_prov"), ("verifier", "ver_prov"), ("auditor", "aud_prov")):
                accounts.add_user(conn, clock=rt.clock, actor=actor, username=name, roles=[role], unit=PROVINCE_CODE)
            for c, city in enumerate(text.CITIES, start=1):
                code = f"C{c:02d}"
                accounts.add_unit(conn, clock=rt.clock, actor=actor, code=code, name=city, parent=PROVINCE_CODE)
                for role, prefix in (("supervisor", "sup"), ("verifier", "ver"), ("registrar", "reg")):
                    accounts.add_user(conn, clock=rt.clock, actor=actor, username=f"{prefix}_{code.lower()}",
                                      roles=[role], unit=code)
                for dept, name in text.DEPARTMENTS:
                    accounts.add_unit(conn, clock=rt.clock, actor=actor, code=f"{code}-{dept}", name=f"{city}{name}",
                                      parent=code)
                    for k in (1, 2):
                        accounts.add_user(conn, clock=rt.clock, actor=actor, roles=["assignee"],
                                          username=f"asg_{code.lower()}_{dept.lower()}_{k}", unit=f"{code}-{dept}")
        ids = {r.code: r.id for r in conn.execute(sa.text("SELECT id, code FROM units"))}
    cities = [f"C{c:02d}" for c in range(1, len(text.CITIES) + 1)]
    units = {PROVINCE_CODE: (ids[PROVINCE_CODE], "")}
    leaves, assignees = [], {}
    for code, city in zip(cities, text.CITIES):
        units[code] = (ids[code], city)
        for dept, _name in text.DEPARTMENTS:
            leaf = f"{code}-{dept}"
            units[leaf] = (ids[leaf], city)
            leaves.append(leaf)
            assignees[leaf] = [f"asg_{code.lower()}_{dept.lower()}_{k}" for k in (1, 2)]
    return World(units, leaves, cities, assignees)


PROVINCE_CODE = text.PROVINCE[0]


class Maker:
    """Builds items' rows and history records from one random sequence."""

    def __init__(self, rt: Runtime, world: World, rows: Rows, rng: random.Random, now: dt.datetime) -> None:
        self.rt, self.world, self.rows, self.rng, self.now = rt, world, rows, rng, now
        self.workflows = {name: rt.registry.current(name) for name, _ in WORKFLOWS}

    def _date(self, value: dt.date | None):
        return None if value is None else (value.isoformat() if self.rows.sqlite else value)

    def _state_for(self, age_days: float) -> str:
        rng = self.rng
        if rng.random() < 0.04:
            return "cancelled"
        return "closed" if rng.random() < min(0.9, age_days / 300) else rng.choice(OPEN_STATES)

    def _times(self, created: dt.datetime, steps: int) -> list[dt.datetime]:
        """Creation and ``steps`` later moments, in order, none after now."""
        room = min((self.now - created).total_seconds(), self.rng.uniform(10, 200) * 86400)
        later = sorted(self.rng.uniform(0, room) for _ in range(steps))
        return [created] + [created + dt.timedelta(seconds=s) for s in later]

    def make(self, created: dt.datetime, numbering: Numbering, i: int) -> tuple[tuple, list[tuple]]:
        """Item ``i``, created at ``created``: its row and its history rows (tuples in the column orders); its
        creation record names its number, as the engine's do."""
        rng, world = self.rng, self.world
        name = rng.choices([w for w, _ in WORKFLOWS], [p for _, p in WORKFLOWS])[0]
        wf = self.workflows[name]
        leaf = rng.random() < 0.85
        unit = rng.choice(world.leaves) if leaf else rng.choice(world.cities)
        unit_id, city = world.units[unit]
        city_code = unit[:3].lower()
        state = self._state_for((self.now - created).total_seconds() / 86400)
        triggers = list(PATHS[state])
        if state == "cancelled" and rng.random() < 0.5:
            triggers = ["assign", "cancel"]
        if "accept" in triggers:
            at = triggers.index("accept") + 1
            triggers[at:at] = ["report_progress"] * rng.choice((0, 0, 1, 2))
        times = self._times(created, len(triggers))
        # As the engine makes them (engine.itemrows), time first, from the seed's own random numbers.
        item_id = new_item_id(int(created.timestamp()) * 10**9 + created.microsecond * 1000, rng.getrandbits(62))
        title = text.title(rng)
        source = rng.choice(SOURCES)
        campaign = rng.choice(CAMPAIGNS) if rng.random() < 0.6 else None
        external_ref = (f"督查〔{created.year}〕{rng.randint(1, 99)}号-{rng.randint(1, 40)}"
                        if source in ("inspection", "audit", "supervision") else None)
        values = {"title": title, "description": text.description(rng, city, title), "source": source,
                  "severity": rng.choice(SEVERITIES), "unit": unit, "assignee": None, "due_date": None,
                  "measures": "", "external_ref": external_ref, "campaign": campaign, "tags": [],
                  "workflow": name, "submitted_by": None}
        registered = {k: v for k, v in values.items() if v is not None and k not in ("submitted_by", "assignee",
                                                                                        "due_date", "measures")}
        number = numbering.number(i, self.rt.local_date(created).year)
        registered.update(workflow_version=wf.definition.version, workflow_hash=wf.hash, number=number)
        registrar = f"reg_{city_code}" if unit != PROVINCE_CODE else "sup_prov"
        assignee = rng.choice(world.assignees[unit]) if leaf else None
        supervisor = f"sup_{city_code}"
        records, prev, prev_state = [], history.GENESIS, None
        steps = [("create", registrar, None, registered)]
        for trigger in triggers:
            if trigger == "assign":
                span = rng.randint(3, 15) if name == "immediate" else rng.randint(15, 120)
                due = self.rt.local_date(times[len(steps)]) + dt.timedelta(days=span)
                fields = {"unit": unit, "due_date": due.isoformat(), "measures": text.measures(rng),
                          **({"assignee": assignee} if assignee else {})}
                steps.append((trigger, supervisor, None, fields))
            elif trigger in ("accept", "submit"):
                steps.append((trigger, assignee or supervisor, "已整改完成，请验收。" if trigger == "submit" else None, {}))
            elif trigger == "report_progress":
                steps.append((trigger, assignee or supervisor, text.progress(rng), {}))
            elif trigger == "approve":
                steps.append((trigger, f"ver_{city_code}", None, {}))
            else:  # close, cancel
                steps.append((trigger, supervisor, "问题已查实作废。" if trigger == "cancel" else None, {}))
        for seq, ((trigger, actor, comment, fields), at) in enumerate(zip(steps, times), start=1):
            to_state = wf.definition.initial if trigger == "create" else DEST[trigger]
            # The record as engine.history.new_record builds it (its values are plain JSON already), hashed by
            # engine.history.record_hash; an empty fields object is written as the same text every time.
            record = {"item": item_id, "seq": seq, "trigger": trigger, "from_state": prev_state,
                      "to_state": to_state, "actor": actor, "at": rfc3339(at), "comment": comment, "evidence": [],
                      "fields": fields, "prev_hash": prev}
            record["hash"] = history.record_hash(record)
            records.append((item_id, seq, trigger, prev_state, to_state, actor, record["at"], comment, "[]",
                            canonical_text(fields) if fields else "{}", prev, record["hash"]))
            values.update({k: v for k, v in fields.items() if k in values})
            if trigger == "submit":
                values["submitted_by"] = actor
            prev, prev_state = record["hash"], to_state
        entered = times[-1]
        due_date = dt.date.fromisoformat(values["due_date"]) if values["due_date"] else None
        final = wf.definition.state(prev_state).final
        deadline = state_deadline(wf.definition, prev_state, entered=self.rt.local_date(entered), due_date=due_date)
        reminder = None if final else reminder_clock(self.rt, wf.definition, {
            "id": item_id, "state": prev_state, "state_entered_at": entered, "deadline": deadline})
        instant = self.rows.instant
        row = (item_id, number, name, wf.hash, prev_state, len(steps),
               title, values["description"], source, values["severity"], unit_id, values["assignee"],
               self._date(due_date), None, self._date(deadline), instant(entered), values["measures"],
               external_ref, campaign, "[]", registrar, values["submitted_by"], 0, len(steps), prev,
               instant(reminder), instant(entered) if final else None, instant(created), instant(entered))
        return row, records
