"""bench/vs_spiff.py's pieces work: both sides take a few items through the whole lifecycle in their own
processes, and the figures come out under stable names with the issue's targets. A check, not a timing."""
from __future__ import annotations

from bench import vs_spiff
from bench.figures import ENV, read


def test_both_sides_take_items_to_the_end_and_report_their_figures(tmp_path, monkeypatch):
    runs = vs_spiff.measure(items=3, rounds=1)
    for side in vs_spiff.SIDES:
        (run,) = runs[side]
        assert run["items"] == 3  # each side raises, and the run fails, unless every item reached the end
        assert run["items_per_s"] > 0 and run["cpu_ms_per_item"] > 0
        assert run["peak_mb"] >= run["ready_mb"] > 0
    assert runs["closeloop"][0]["register_cpu_us"] > 0 and runs["closeloop"][0]["transition_cpu_us"] > 0
    assert runs["SpiffWorkflow"][0]["state_bytes"] > 0

    monkeypatch.setenv(ENV, str(tmp_path / "figures.jsonl"))
    vs_spiff.report(*vs_spiff.summarize(runs))
    figures = {f.name: f for f in read(str(tmp_path / "figures.jsonl"))}
    speed = figures["vs SpiffWorkflow: closeloop items/s over SpiffWorkflow's"]
    memory = figures["vs SpiffWorkflow: closeloop peak memory over SpiffWorkflow's"]
    assert (speed.target, speed.better, speed.unit) == (10.0, "higher", "x")
    assert (memory.target, memory.better, memory.unit) == (1.0, "lower", "x")
    ours, theirs = runs["closeloop"][0], runs["SpiffWorkflow"][0]
    assert speed.value == ours["items_per_s"] / theirs["items_per_s"]
    assert memory.value == ours["peak_mb"] / theirs["peak_mb"]
    assert figures["vs SpiffWorkflow: SpiffWorkflow lifecycle items/s"].target is None  # the reference


def test_spiff_side_keeps_the_same_durability_as_closeloop(tmp_path):
    from bench import vs_spiff_spiff

    conn = vs_spiff_spiff.connect(tmp_path / "spiff.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: the log is synced at every commit
    conn.close()
    assert [step for step, _ in vs_spiff_spiff.STEPS] == ["register", "assign", "accept", "submit", "approve", "close"]
