"""SpiffWorkflow's side of bench/vs_spiff.py: the six-step lifecycle as six BPMN user tasks, in a child process.

Each item is one workflow instance of bench/lifecycle.bpmn. Each step is what a server does for one request:
in one SQLite transaction, load the instance's serialized state (BpmnWorkflowSerializer, the library's own),
complete the ready user task with the step's data, serialize it and write it back, commit. The first step
(register) creates the instance instead of loading it. The journal is WAL with synchronous=FULL: every commit
syncs the log before it returns, the durability closeloop's group commit gives its own commits.
Run by bench/vs_spiff.py: python -m bench.vs_spiff_spiff DB ITEMS
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from bench.vs_spiff_meter import Meter, emit

BPMN = Path(__file__).resolve().with_name("lifecycle.bpmn")
PROCESS = "rectification"
EVIDENCE = [{"name": "整改照片.jpg", "sha256": "ab" * 32}]
# Each step's task data: what the matching closeloop request carries, and who acts.
STEPS = (
    ("register", {"actor": "sup", "source": "inspection", "unit": "EDU", "assignee": "doer", "due_date": "2027-06-30"}),
    ("assign", {"actor": "sup"}),
    ("accept", {"actor": "doer"}),
    ("submit", {"actor": "doer", "evidence": EVIDENCE}),
    ("approve", {"actor": "checker"}),
    ("close", {"actor": "sup"}),
)
SYNCHRONOUS = "FULL"


def connect(db: Path) -> sqlite3.Connection:
    """The one connection, in WAL mode with synchronous=FULL, transactions begun explicitly."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    conn.execute("CREATE TABLE IF NOT EXISTS workflows (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
    return conn


def complete(workflow, step: str, data: dict) -> None:
    """Complete the ready user task ``step`` with ``data`` and run the engine up to the next one."""
    task = workflow.get_next_task(state=TaskState.READY, manual=True)
    if task is None or task.task_spec.name != step:
        raise RuntimeError(f"expected the user task {step!r} to be ready, found {task and task.task_spec.name!r}")
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()


def run(db: Path, items: int) -> dict:
    """Take ``items`` instances through the six steps; the figures as a dict."""
    parser = BpmnParser()
    parser.add_bpmn_file(str(BPMN))
    spec = parser.get_spec(PROCESS)  # parsed once, as a server keeps its process models
    serializer = BpmnWorkflowSerializer()
    conn = connect(db)
    meter = Meter()
    meter.start()
    (first, first_data), rest = STEPS[0], STEPS[1:]
    for n in range(items):
        workflow = BpmnWorkflow(spec)
        workflow.do_engine_steps()
        complete(workflow, first, {**first_data, "title": f"婴幼儿托位供给不足 {n}"})
        conn.execute("BEGIN IMMEDIATE")
        key = conn.execute("INSERT INTO workflows (state) VALUES (?)", (serializer.serialize_json(workflow),)).lastrowid
        conn.execute("COMMIT")
        for step, data in rest:
            conn.execute("BEGIN IMMEDIATE")
            state = conn.execute("SELECT state FROM workflows WHERE id = ?", (key,)).fetchone()[0]
            workflow = serializer.deserialize_json(state)
            complete(workflow, step, data)
            conn.execute("UPDATE workflows SET state = ? WHERE id = ?", (serializer.serialize_json(workflow), key))
            conn.execute("COMMIT")
        if not workflow.is_completed():
            raise RuntimeError(f"instance {key} did not reach its end event")
    figures = meter.stop(items, state_bytes=len(serializer.serialize_json(workflow)))
    conn.close()
    return figures


if __name__ == "__main__":
    emit(run(Path(sys.argv[1]), int(sys.argv[2])))
