"""A durable PostgreSQL for the scale-out benchmark: closeloop's database filled with N items, and pgbench's own.

Filling 1,000,000 items takes minutes, so the filled cluster can be kept: with a cache folder, the first run
seeds a cluster and copies its stopped data folder there (named by the PostgreSQL version, the migration head
and the item count); later runs start a fresh server and put a copy of it in place of the empty one. Each run
works on its own copy, so runs never see each other's transitions.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.seed import SEED_FORMAT, seed
from bench.serving import children, cpu_seconds
from engine.store.revisions import head_revision
from tests.pg_server import PostgresServer

CLOSELOOP_DB = "closeloop"
PGBENCH_DB = "pgbench"


@dataclass
class Filled:
    """A started durable server with both databases, and how its closeloop database came to be filled."""

    server: PostgresServer
    url: str  # closeloop's database, as the superuser
    items: int
    seed_seconds: float  # how long seeding took (in the run that seeded, when it came from the cache)
    from_cache: bool


def _bin(server: PostgresServer, name: str) -> str:
    return str(server.bindir / name)


def _cache_folder(cache: Path, server: PostgresServer, items: int, scale: int) -> Path:
    return cache / f"pg{server.bindir.parent.name}-{head_revision()}-seed{SEED_FORMAT}-{items}-s{scale}"


def start_filled(bindir: Path, items: int, scale: int, cache: Path | None) -> Filled:
    """Start a durable server holding closeloop's database with ``items`` seeded items and pgbench's database
    initialised at ``scale``: copied from ``cache`` when it holds one, else made (and kept there if given)."""
    server = PostgresServer(bindir, durable=True)
    server.start()
    kept = _cache_folder(cache, server, items, scale) if cache else None
    url = f"postgresql+psycopg://closeloop@127.0.0.1:{server.port}/{CLOSELOOP_DB}"
    if kept is not None and (kept / "data").is_dir():
        server.halt()
        shutil.rmtree(server.data)
        subprocess.run(["cp", "-a", str(kept / "data"), str(server.data)], check=True)
        server.resume()
        made = json.loads((kept / "seeded.json").read_text())
        return Filled(server, url, made["items"], made["seconds"], from_cache=True)
    server.migrated_database(CLOSELOOP_DB)
    started = time.perf_counter()
    if items:
        seed(url, items, progress=lambda done, total: print(f"\r  seeding {done:,}/{total:,} items", end="",
                                                             file=sys.stderr, flush=True))
        print(file=sys.stderr)
    seconds = time.perf_counter() - started
    _pgbench_init(server, scale)
    if kept is not None:
        server.halt()
        partial = kept.with_name(kept.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        subprocess.run(["cp", "-a", str(server.data), str(partial / "data")], check=True)
        (partial / "seeded.json").write_text(json.dumps({"items": items, "seconds": seconds}))
        partial.rename(kept)
        server.resume()
    return Filled(server, url, items, seconds, from_cache=False)


def _pgbench_init(server: PostgresServer, scale: int) -> None:
    """Create pgbench's database and fill its tables at ``scale`` (100,000 accounts a unit of scale)."""
    admin = sa.create_engine(f"postgresql+psycopg://closeloop@127.0.0.1:{server.port}/postgres",
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{PGBENCH_DB}"'))
    admin.dispose()
    subprocess.run([_bin(server, "pgbench"), "-i", "-q", "-s", str(scale), *_address(server), PGBENCH_DB],
                   check=True, capture_output=True)


def _address(server: PostgresServer) -> list[str]:
    return ["-h", "127.0.0.1", "-p", str(server.port), "-U", "closeloop"]


@dataclass
class PgbenchRun:
    """pgbench's rate and the server's CPU over the run."""

    tps: float
    transactions: int
    seconds: float
    server_cpu: float  # CPU seconds of every PostgreSQL process over the run


def pgbench(server: PostgresServer, clients: int, threads: int, seconds: int) -> PgbenchRun:
    """Run pgbench's TPC-B-like script on its own database for ``seconds`` and return its tps (without the
    initial connection time)."""
    cpu_before = postgres_cpu(server)
    done = subprocess.run([_bin(server, "pgbench"), "-c", str(clients), "-j", str(threads), "-T", str(seconds),
                           *_address(server), PGBENCH_DB], check=True, capture_output=True, text=True)
    cpu = postgres_cpu(server) - cpu_before
    tps, count = pgbench_rate(done.stdout + done.stderr)
    return PgbenchRun(tps, count, seconds, cpu)


def pgbench_rate(output: str) -> tuple[float, int]:
    """The tps (without the initial connection time) and the transactions pgbench printed."""
    tps = re.search(r"^tps = ([\d.]+) \(without initial connection time\)", output, re.M)
    count = re.search(r"^number of transactions actually processed: (\d+)", output, re.M)
    if tps is None or count is None:
        raise RuntimeError("pgbench printed no rate:\n" + output[-2000:])
    return float(tps.group(1)), int(count.group(1))


def postgres_cpu(server: PostgresServer) -> float:
    """CPU seconds used so far by every PostgreSQL process: the postmaster with the backends it has reaped (a
    pgbench run's, after it ends), and its children alive now (backends, checkpointer, WAL writer)."""
    return cpu_seconds(server.pid, reaped=True) + cpu_seconds(*children(server.pid))
