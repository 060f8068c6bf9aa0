"""The test suite's own PostgreSQL servers do not outlive a test process killed without a chance to stop them."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import _unavailable
from tests.pg_server import _is_postgres, find_bindir, reap_orphans

ROOT = Path(__file__).resolve().parents[1]
STARTER = ("import sys, time\n"
           "from tests.pg_server import PostgresServer, find_bindir\n"
           "server = PostgresServer(find_bindir()); server.start()\n"
           "print(server.root, server.pid, flush=True)\n"
           "time.sleep(120)\n")


def test_a_server_whose_test_process_was_killed_is_stopped_and_removed_by_the_next():
    if find_bindir() is None:
        _unavailable("no PostgreSQL server binaries (initdb) are installed")
    starter = subprocess.Popen([sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        root, pid = starter.stdout.readline().split()
        root, postmaster = Path(root), int(pid)
        assert _is_postgres(postmaster) and root.is_dir()
        assert root not in reap_orphans()  # its owner is alive: left alone
    finally:
        starter.send_signal(signal.SIGKILL)  # no finally, no atexit: the server is orphaned
        starter.wait(timeout=10)
    assert _is_postgres(postmaster)
    assert root in reap_orphans()
    deadline = time.monotonic() + 10  # waiting on the kernel to reap a process, not on business time
    while _is_postgres(postmaster) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _is_postgres(postmaster) and not root.exists()
