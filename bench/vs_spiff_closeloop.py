"""closeloop's side of bench/vs_spiff.py: the six-step lifecycle in-process, in a child process of its own.

``setup DB``: migrate a new SQLite database and add the unit tree and the three people of the lifecycle
(a supervisor who registers, assigns and closes; the unit's assignee; a verifier); print their tokens as JSON.
``run DB ITEMS TOKENS``: what a server does once it is up, with its default settings (WAL, synchronous=NORMAL
and group commit, so no commit returns before an fsync of the log covers it): open the Runtime, then take
ITEMS items through register (items.create_item in a transaction of its own) and assign, accept, submit,
approve, close (service.fire_once each); print the figures as JSON.
Run by bench/vs_spiff.py: python -m bench.vs_spiff_closeloop setup|run ...
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.vs_spiff_meter import Meter, emit
from engine import accounts, items, service
from engine.audit.actors import cli_actor
from engine.config import Settings
from engine.inputs import NewItem, TransitionRequest
from engine.runtime import Runtime

REGISTRATION = {"source": "inspection", "unit": "EDU", "assignee": "doer", "due_date": "2027-06-30"}
EVIDENCE = [{"name": "整改照片.jpg", "sha256": "ab" * 32}]
# The five transitions after registration, and who fires each.
STEPS = (
    ("sup", TransitionRequest(trigger="assign")),
    ("doer", TransitionRequest(trigger="accept")),
    ("doer", TransitionRequest.model_validate({"trigger": "submit", "evidence": EVIDENCE})),
    ("checker", TransitionRequest(trigger="approve")),
    ("sup", TransitionRequest(trigger="close")),
)


def _settings(db: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{db}")  # the rest from CLOSELOOP_*, as the server reads them


def setup(db: Path) -> dict[str, str]:
    """A migrated database with the unit tree and the lifecycle's three users; their tokens by username."""
    from engine.store import Store  # only here: the measured run opens a migrated database
    from engine.store.migrate import migrate

    settings = _settings(db)
    store = Store.for_settings(settings)
    migrate(store)
    rt = Runtime.open(settings, store=store)
    operator = cli_actor()
    tokens = {}
    with rt.store.write() as conn:
        accounts.add_unit(conn, clock=rt.clock, actor=operator, code="CITY", name="市")
        accounts.add_unit(conn, clock=rt.clock, actor=operator, code="EDU", name="市教委", parent="CITY")
        for username, roles, unit in (("sup", ["supervisor", "registrar"], "CITY"), ("doer", ["assignee"], "EDU"),
                                      ("checker", ["verifier"], "CITY")):
            _, tokens[username] = accounts.add_user(conn, clock=rt.clock, actor=operator, username=username,
                                                    roles=roles, unit=unit)
    rt.store.dispose()
    return tokens


def run(db: Path, count: int, tokens: dict[str, str]) -> dict:
    """Take ``count`` items through the six steps, one transaction (and one durable commit) each."""
    rt = Runtime.open(_settings(db))
    with rt.store.read() as conn:
        actors = {username: accounts.authenticate(conn, token) for username, token in tokens.items()}
    meter = Meter()
    meter.start()
    registering = 0.0  # CPU seconds spent registering; the rest of the loop's is the transitions'
    for n in range(count):
        cpu = time.process_time()
        with rt.store.write() as conn:
            row, _ = items.create_item(conn, rt, actors["sup"], NewItem.model_validate(
                {"title": f"婴幼儿托位供给不足 {n}", **REGISTRATION}))
        registering += time.process_time() - cpu
        for username, request in STEPS:
            service.fire_once(rt, item_ref=row["id"], actor=actors[username], request=request)
    figures = meter.stop(count)
    register_us = 1e6 * registering / count
    figures.update(register_cpu_us=register_us,
                   transition_cpu_us=(1000 * figures["cpu_ms_per_item"] - register_us) / len(STEPS))
    with rt.store.read() as conn:
        closed = conn.exec_driver_sql("SELECT count(*) FROM items WHERE state = 'closed'").scalar_one()
    rt.store.dispose()
    if closed != count:
        raise RuntimeError(f"{closed} of {count} items reached 'closed'")
    return figures


if __name__ == "__main__":
    command, db = sys.argv[1], Path(sys.argv[2])
    if command == "setup":
        emit(setup(db))
    else:
        emit(run(db, int(sys.argv[3]), json.loads(Path(sys.argv[4]).read_text())))
