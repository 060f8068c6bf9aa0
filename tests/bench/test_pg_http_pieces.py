"""The scale-out benchmark's pieces (bench/pg_http.py) work: process memory and CPU from /proc, a child found
by its parent, pgbench's rate read from its output, two halves of a load taken as one."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.loadgen import LoadResult
from bench.pg_cluster import pgbench_rate
from bench.pg_http import HttpHalf, combined
from bench.serving import children, cpu_seconds, rss_mb

PGBENCH_OUTPUT = """transaction type: <builtin: TPC-B (sort of)>
scaling factor: 10
number of clients: 8
number of threads: 2
duration: 15 s
number of transactions actually processed: 37612
number of failed transactions: 0 (0.000%)
latency average = 3.189 ms
initial connection time = 12.446 ms
tps = 2508.694221 (without initial connection time)
"""


def test_a_child_process_is_found_with_its_memory_and_cpu():
    child = subprocess.Popen([sys.executable, "-c", "import time; sum(range(3_000_000)); time.sleep(30)"])
    try:
        assert child.pid in children(os.getpid())
        assert 1 < rss_mb(child.pid) < 500
        assert cpu_seconds(child.pid) >= 0
    finally:
        child.kill()
        child.wait()
    assert rss_mb(child.pid) == 0.0 and cpu_seconds(child.pid) == 0.0  # gone: counted as nothing


def test_pgbench_rate_is_read_and_its_absence_is_an_error():
    assert pgbench_rate(PGBENCH_OUTPUT) == (2508.694221, 37612)
    with pytest.raises(RuntimeError, match="no rate"):
        pgbench_rate("pgbench: error: connection to server failed")


def test_two_halves_make_one_load():
    halves = [HttpHalf(LoadResult([0.01] * 100, {200: 100}, 0.5), 0.2, 0.1, 0.01, 100),
              HttpHalf(LoadResult([0.03] * 100, {200: 99, 503: 1}, 1.5), 0.2, 0.1, 0.01, 99)]
    whole = combined(halves)
    assert whole.rate == 100.0 and whole.statuses == {200: 199, 503: 1}
    assert whole.percentile(50) == pytest.approx(30.0) and whole.percentile(25) == pytest.approx(10.0)
