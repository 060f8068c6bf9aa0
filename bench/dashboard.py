"""How long the dashboard page takes on a filled database, served by the app in this process, for the province's
supervisor (every unit) and a city's supervisor (one subtree); each figure's engine call is timed too.

Prints the median and the slowest of --runs page loads after one warm-up, wall time (the database's work
included). The user's password is set on the database given, and sessions are made there.
Run: .venv/bin/python bench/dashboard.py --db URL   (a database filled by bench/seed.py)
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import sqlalchemy as sa  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from engine.accounts import Actor  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.listing.actionable import needing_action  # noqa: E402
from engine.people.passwords import set_password  # noqa: E402
from engine.reports import board  # noqa: E402
from engine.reports.summary import SummaryQuery, summary  # noqa: E402
from engine.runtime import Runtime  # noqa: E402

PASSWORD = "bench dashboard 1"


def _timed(runs: int, call) -> tuple[float, float]:
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:]), max(times[1:])


def _actor(rt: Runtime, username: str) -> Actor:
    with rt.store.read() as conn:
        row = conn.execute(sa.text("SELECT u.id, u.roles, u.unit_id, n.code, n.path FROM users u JOIN units n "
                                   "ON n.id = u.unit_id WHERE u.username = :name"), {"name": username}).one()
    return Actor(row.id, username, frozenset(row.roles.split(",")), row.unit_id, row.code, row.path)


def _parts(rt: Runtime, actor: Actor, runs: int) -> dict[str, tuple[float, float]]:
    """Each engine call of the dashboard alone."""
    today, yellow = rt.today(), rt.settings.yellow_days

    def run(work):
        def call():
            with rt.store.read() as conn:
                work(conn)
        return _timed(runs, call)

    return {
        "states": run(lambda c: board.state_counts(c, actor)),
        "lights": run(lambda c: board.light_counts(c, actor, today=today, yellow_days=yellow)),
        "escalations": run(lambda c: board.open_escalations(c, actor)),
        "summary": run(lambda c: summary(c, actor, rt.registry, SummaryQuery("unit", None, None, today),
                                         rt.settings.tz)),
        "my actions": run(lambda c: needing_action(c, rt.registry, actor, today=today, yellow_days=yellow)),
    }


def main() -> None:
    """Sign in as each supervisor and time the dashboard."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="Database URL of a filled, migrated database")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--users", default="sup_prov,sup_c01")
    args = parser.parse_args()
    rt = Runtime.open(Settings(database_url=args.db))
    try:
        with TestClient(create_app(rt)) as client:
            for username in args.users.split(","):
                with rt.store.write() as conn:
                    set_password(conn, clock=rt.clock, actor="cli:bench", username=username, password=PASSWORD)
                client.cookies.clear()
                page = client.get("/signin").text
                token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
                client.post("/signin", data={"csrf": token, "username": username, "password": PASSWORD, "next": "/"})
                median, slowest = _timed(args.runs, lambda: client.get("/dashboard").raise_for_status())
                print(f"{username:10} /dashboard  median {median:7.1f} ms  slowest {slowest:7.1f} ms")
                for part, (p_median, p_slowest) in _parts(rt, _actor(rt, username), args.runs).items():
                    print(f"{'':10} {part:11} median {p_median:7.1f} ms  slowest {p_slowest:7.1f} ms")
    finally:
        rt.store.dispose()


if __name__ == "__main__":
    main()
