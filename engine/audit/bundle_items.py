"""Checking ``items.jsonl`` of a bundle: each line by the quick check, and by the reference check when it is
not sure; in this process or in forked workers, a block of whole lines at a time, the answers in line order.

A block's answer is a summary: its item ids, its record count, and only the lines that are not intact items.
Most lines are, so little crosses between processes (a tuple per line, with its order key and number, was
pickled, sent and unpickled for every item). An item that appears twice is the one thing a summary cannot
place on its line: a block holding one is checked again line by line (check_block) to name it.
"""
from __future__ import annotations

import collections
import contextlib
import gc
import multiprocessing
import zipfile
from typing import Iterator, NamedTuple

import orjson

from engine.audit.quick_check import intact_records
from engine.audit.replay import Finding
from engine.audit.verify import check_item, finding_key

# The row columns the reference check reads directly (the replayed ones it reads with .get).
_ROW_KEYS = ("number", "state", "version", "history_seq", "history_hash", "created_at", "closed_at")
# Uncompressed bytes of items.jsonl per task: big enough that handing a block over costs little, small
# enough that the blocks in flight (two per worker) keep memory low.
BLOCK = 4 << 20
# The longest line a bundle's JSON-lines entries hold (an item with its whole history is one line): a longer
# one is no bundle closeloop wrote, and reading it whole could take all the memory there is.
MAX_LINE = 64 << 20


class LineTooLong(ValueError):
    """A line of a bundle's entry passed MAX_LINE."""


def rest_of_line(stream, name: str) -> bytes:
    """The rest of the current line of ``stream`` (an entry ``name`` of the bundle), at most MAX_LINE bytes."""
    rest = stream.readline(MAX_LINE)
    if len(rest) == MAX_LINE and not rest.endswith(b"\n"):
        raise LineTooLong(f"{name} holds a line longer than {MAX_LINE >> 20} MB: not a bundle closeloop wrote")
    return rest


def _covered(claims: list[tuple[int, str, int]], records: list[dict]) -> Finding | None:
    """The first record a checkpoint covered that the history no longer holds as it was."""
    for seq, head, number in sorted(claims):
        if seq > len(records):
            return Finding(len(records) + 1, f"checkpoint {number} covered this item up to seq {seq}, but its "
                                             f"history ends at seq {len(records)}: records were removed")
        if records[seq - 1].get("hash") != head:
            return Finding(seq, f"the record differs from the one checkpoint {number} covered: the chain was "
                                f"rewritten")
    return None


def _entry_problem(entry: object) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
        return "the line is not an item entry"
    row, history = entry.get("item"), entry.get("history")
    if row is not None and (not isinstance(row, dict) or any(k not in row for k in _ROW_KEYS)):
        return "the item row lacks columns"
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        return "the item's history is not a list of records"
    return None


def check_entry(line: int, raw: bytes, context: tuple) -> tuple[int, object]:
    """One line of items.jsonl: (line, a problem) or (line, (item id, order key, number, records, finding)).

    ``context`` is (workflows, bad workflows, checkpoint claims by item, quick-check plans).
    """
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError:
        entry = None
    records = intact_records(entry, context[3], context[2])
    if records is not None:  # intact: the reference check would find nothing either
        item_id, row = entry["id"], entry["item"]
        return line, (item_id, finding_key(row, item_id), str(row["number"]), records, None)
    return line, reference_check(entry, context)


def reference_check(entry: object, context: tuple) -> str | tuple:
    """A parsed line by the reference check alone: a problem, or (item id, order key, number, records, finding)."""
    workflows, bad_workflows, claims, _plans = context
    problem = _entry_problem(entry)
    if problem is not None:
        return problem
    item_id, row, history = entry["id"], entry["item"], entry["history"]
    stray = next((r for r in history if r.get("item_id") != item_id), None)
    if stray is not None:
        finding = Finding(stray.get("seq") if type(stray.get("seq")) is int else None,
                          "the record belongs to another item")
    else:
        _count, finding, _head = check_item(row, history, workflows, bad_workflows)
        if finding is None and item_id in claims:
            finding = _covered(claims[item_id], history)
    number = str(row.get("number")) if isinstance(row, dict) else item_id
    found = None if finding is None else {"seq": finding.seq, "reason": finding.reason}
    return item_id, finding_key(row, item_id), number, len(history), found


def blocks(stream) -> Iterator[tuple[bytes, bytes]]:
    """(about BLOCK bytes, the rest of the line they end in) of a stream; joined, they hold whole lines.

    Nothing is copied here: the process that reads a block (a worker) does the joining.
    """
    while data := stream.read(BLOCK):
        yield data, b"" if data.endswith(b"\n") else rest_of_line(stream, "items.jsonl")


def _split(data: bytes, tail: bytes) -> list[bytes]:
    """The lines of a block, as a file iterator gives them: an empty line is a line, and so is a last one
    without its newline."""
    lines = data.split(b"\n")
    lines[-1] += tail
    if lines[-1].endswith(b"\n"):
        lines[-1] = lines[-1][:-1]
    elif not lines[-1]:
        lines.pop()
    return lines


def check_block(data: bytes, tail: bytes, context: tuple) -> list[tuple[int, object]]:
    """Every line of a block checked, in order, numbered from 1 within the block."""
    return [check_entry(n, raw, context) for n, raw in enumerate(_split(data, tail), start=1)]


class Summary(NamedTuple):
    """What the lines of one block hold, as few objects as can say it."""

    lines: int
    records: int
    ids: list[str]  # the ids of the lines that are items, in order
    problems: list[tuple[int, str]]  # (line within the block, why it is not an item entry)
    findings: list[tuple[tuple, dict]]  # (order key, {"item", "item_id", "seq", "reason"}) of broken items


def summarize_block(data: bytes, tail: bytes, context: tuple) -> Summary:
    """A block checked line by line (what check_entry does), answered as a Summary."""
    _workflows, _bad, claims, plans = context
    lines = _split(data, tail)
    ids: list[str] = []
    problems, findings, records = [], [], 0
    for n, raw in enumerate(lines, start=1):
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError:
            entry = None
        count = intact_records(entry, plans, claims)
        if count is not None:
            ids.append(entry["id"])
            records += count
            continue
        result = reference_check(entry, context)
        if isinstance(result, str):
            problems.append((n, result))
            continue
        item_id, key, number, count, finding = result
        ids.append(item_id)
        records += count
        if finding is not None:
            findings.append((key, {"item": number, "item_id": item_id, **finding}))
    return Summary(len(lines), records, ids, problems, findings)


class Tally:
    """Everything items.jsonl held, added up block by block in line order."""

    def __init__(self, context: tuple) -> None:
        self.context = context
        self.lines = self.items = self.records = 0
        self.seen: set[str] = set()
        self.problems: list[str] = []
        self.found: list[tuple[tuple, dict]] = []  # (order key, finding) of every broken item

    def add(self, summary: Summary, data: bytes, tail: bytes) -> None:
        """Add one block's summary (``data`` and ``tail`` are the block, checked again if an item repeats)."""
        ids = set(summary.ids)
        if len(ids) != len(summary.ids) or not self.seen.isdisjoint(ids):
            self._add_lines(check_block(data, tail, self.context))
            return
        self.seen |= ids
        self.items += len(summary.ids)
        self.records += summary.records
        self.problems.extend(f"items.jsonl line {self.lines + n}: {problem}" for n, problem in summary.problems)
        self.found.extend(summary.findings)
        self.lines += summary.lines

    def _add_lines(self, results: list[tuple[int, object]]) -> None:
        for line, result in results:
            if isinstance(result, str):
                self.problems.append(f"items.jsonl line {self.lines + line}: {result}")
                continue
            item_id, key, number, records, finding = result
            self.items += 1
            self.records += records
            if item_id in self.seen:
                finding = {"seq": None, "reason": "the item appears twice in the bundle"}
            self.seen.add(item_id)
            if finding is not None:
                self.found.append((key, {"item": number, "item_id": item_id, **finding}))
        self.lines += len(results)


# What the forked workers read (inherited, never pickled): set just before the pool starts.
_SHARED: dict = {}


@contextlib.contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause Python's cycle collector (forked workers inherit the pause).

    What a check builds (parsed lines, checkpoint heads) holds no reference cycles, so reference counting
    frees it all; the collector would only walk the heads again and again (half the time of reading them).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _summarize_shared_block(data: bytes, tail: bytes) -> Summary:
    return summarize_block(data, tail, _SHARED["context"])


def _summaries(raw, workers: int, context: tuple) -> Iterator[tuple[Summary, bytes, bytes]]:
    """Each block's summary, in order, with the block: here, or by ``workers`` forked processes."""
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for data, tail in blocks(raw):
            yield summarize_block(data, tail, context), data, tail
        return
    _SHARED["context"] = context
    pending: collections.deque = collections.deque()
    try:
        # At most two blocks per worker in flight: memory stays bounded whatever the bundle's size.
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for block in blocks(raw):
                pending.append((pool.apply_async(_summarize_shared_block, block), *block))
                if len(pending) >= 2 * workers:
                    answer, data, tail = pending.popleft()
                    yield answer.get(), data, tail
            while pending:
                answer, data, tail = pending.popleft()
                yield answer.get(), data, tail
    finally:
        _SHARED.clear()


def check_items(bundle: zipfile.ZipFile, workers: int, context: tuple) -> Tally:
    """Every line of items.jsonl checked, added up in line order."""
    tally = Tally(context)
    with bundle.open("items.jsonl") as raw:
        for summary, data, tail in _summaries(raw, workers, context):
            tally.add(summary, data, tail)
    return tally
