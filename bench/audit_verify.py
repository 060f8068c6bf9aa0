"""How fast an auditor's bundle verifies offline, and how much memory its export takes, at a million records.

Prints, from one run on this machine (SQLite, as `make run` uses it):
  build     the history: three items driven through the API, then copied (real hashes, bulk inserts)
  export    `closeloop audit export` as a separate process: seconds and its peak resident memory, at the full
            size and at a tenth of it (constant memory: the two peaks are close)
  verify    `closeloop audit verify BUNDLE`'s check, in one process and in one per CPU, in records per second
            (target >= 100,000), and its CPU time a record summed over all its processes, and split between this
            process and its workers (the figures that other work on the machine disturbs least), with the load
            averages
  verify    tools/verify_bundle.py, the standalone verifier, as a separate process, in records per second
Run: make bench-audit   (or .venv/bin/python bench/audit_verify.py [--records N])
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# bench/transitions.py shares its name with the `transitions` library: keep this folder off the import path.
HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent))

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from bench.child import run_measured  # noqa: E402
from bench.figures import Figure  # noqa: E402
from bench.figures import report as report_figures  # noqa: E402
from engine.audit.bundle_verify import verify_bundle  # noqa: E402
from engine.audit.checkpoint import checkpoint_now  # noqa: E402
from engine.config import Settings  # noqa: E402
from engine.runtime import Runtime  # noqa: E402
from engine.store import Store  # noqa: E402
from engine.store.migrate import migrate  # noqa: E402
from tests.audit_helpers import STANDALONE, clone_history, templates  # noqa: E402
from tests.helpers import build_world  # noqa: E402

CLOSELOOP = Path(sys.executable).parent / "closeloop"


def _cpu_seconds() -> tuple[float, float]:
    """CPU time, user and system, of this process and of its finished children (the verifier's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def _load() -> str:
    """The load averages over 1, 5 and 15 minutes, as uptime prints them."""
    return ", ".join(f"{load:.2f}" for load in os.getloadavg())


def _build(folder: Path, records: int) -> tuple[Runtime, str]:
    url = f"sqlite:///{folder / 'audit.db'}"
    store = Store(url)
    migrate(store)
    store.dispose()
    rt = Runtime.open(Settings(database_url=url, audit_key_dir=folder / "keys"))
    world = build_world(rt)
    with TestClient(create_app(rt)) as client:
        sources = templates(client, world, rt)
    clone_history(rt, sources, records=records)
    checkpoint_now(rt)
    return rt, url


def measure(records: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        rt, url = _build(folder, records)
        print(f"build     {records:,} records in {time.perf_counter() - started:.1f} s")
        env = {**os.environ, "CLOSELOOP_DATABASE_URL": url, "CLOSELOOP_AUDIT_KEY_DIR": str(folder / "keys")}
        small_rt, small_url = _build(folder / "small", records // 10) if (folder / "small").mkdir() is None else None
        small_env = {**env, "CLOSELOOP_DATABASE_URL": small_url,
                     "CLOSELOOP_AUDIT_KEY_DIR": str(folder / "small" / "keys")}
        bundle, small = folder / "bundle.zip", folder / "small.zip"
        export = run_measured([str(CLOSELOOP), "audit", "export", str(bundle)], env)
        seconds, peak = export.wall, export.peak_mb
        small_peak = run_measured([str(CLOSELOOP), "audit", "export", str(small)], small_env).peak_mb
        print(f"export    {records:,} records in {seconds:.1f} s ({records / seconds:,.0f} records/s), "
              f"{bundle.stat().st_size / 1e6:.0f} MB; peak memory {peak:.0f} MB "
              f"(at {records // 10:,} records: {small_peak:.0f} MB)")
        print(f"machine   {os.cpu_count()} CPUs; load average {_load()} before verifying")
        report_figures(Figure(f"audit export peak memory, {records:,} records", peak, "MB", better="lower"),
                       Figure("audit export peak, full / a tenth of the records", peak / small_peak, "x", target=1.2,
                              better="lower", reference=f"the same export of {records // 10:,} records"))
        for workers in (1, os.cpu_count() or 1):
            started, (own, children) = time.perf_counter(), _cpu_seconds()
            report = verify_bundle(bundle, workers=workers)
            seconds, (own_after, children_after) = time.perf_counter() - started, _cpu_seconds()
            assert report.ok and report.records >= records, (report.problems, report.findings[:3])
            own, children = (own_after - own) / report.records * 1e6, (children_after - children) / report.records * 1e6
            split = f" (this process {own:.1f}, its {workers} workers {children:.1f})" if workers > 1 else ""
            print(f"verify    {report.records:,} records in {seconds:.1f} s: {report.records / seconds:,.0f} records/s "
                  f"(closeloop audit verify BUNDLE, {workers} process{'es' if workers > 1 else ''}; "
                  f"target >= 100,000); CPU {own + children:.1f} us a record{split}, all processes: "
                  f"{workers} such CPUs would do {workers * 1e6 / (own + children):,.0f} records/s; "
                  f"load average {_load()}")
            report_figures(Figure(f"audit verify, {workers} process{'es' if workers > 1 else ''}", report.records / seconds,
                                  "records/s", target=100_000 if workers == (os.cpu_count() or 1) else None))
        standalone = run_measured([sys.executable, str(STANDALONE), str(bundle)], env)
        seconds, peak = standalone.wall, standalone.peak_mb
        print(f"verify    {report.records:,} records in {seconds:.1f} s: {report.records / seconds:,.0f} records/s "
              f"(tools/verify_bundle.py, peak memory {peak:.0f} MB)")
        report_figures(Figure("audit verify, tools/verify_bundle.py", report.records / seconds, "records/s"))
        rt.store.dispose()
        small_rt.store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    measure(parser.parse_args().records)
    print(f"(this process's own peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")


if __name__ == "__main__":
    main()
