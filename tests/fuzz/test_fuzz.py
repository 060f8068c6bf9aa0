"""The fuzz run of tests/fuzz/run_fuzz.py in a bounded CI profile: schemathesis with all its checks but
positive-data acceptance, every phase (examples, coverage, fuzzing, stateful through the document's links),
as an admin and as a supervisor, against a served `closeloop serve`. `make fuzz` runs the longer profile."""
from __future__ import annotations

import os

from tests.fuzz import run_fuzz

# Seconds for both passes together, and examples per operation and phase; CLOSELOOP_FUZZ_SECONDS raises it.
SECONDS = int(os.environ.get("CLOSELOOP_FUZZ_SECONDS", "40"))


def test_schemathesis_finds_no_server_error_and_no_undocumented_answer(capsys):
    status = run_fuzz.main(["--max-time", str(SECONDS), "--max-examples", "5", "--stateful-examples", "25",
                            "--seed", "20261128"])
    printed = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + printed[printed.find("== fuzz summary"):].strip())
    assert status == 0, printed[-4000:]
