"""Where a route's blocking work runs: database work on the threads (or inline) the store chose for it, other
blocking work (a network send, reading an upload) off the event loop. Every route is ``async def`` and goes
through here (tests/engine/test_boundaries.py), so no route runs on a thread FastAPI picked for it."""
from __future__ import annotations

import asyncio
import time
from typing import Callable, TypeVar

from starlette.concurrency import run_in_threadpool

from engine.runtime import Runtime
from engine.store import WriteBusy

T = TypeVar("T")


async def in_writer(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run ``fn`` (which opens its own write transaction) inline if the store allows, once the process's write
    lock is free (awaited on the loop, bounded: then errors.Busy); if another process holds SQLite's lock, on
    the store's write threads, whose wait is bounded alike. Return once the commit is on disk (engine.store.walsync),
    without blocking the event loop meanwhile."""
    store = rt.store
    if store.inline_writes:
        deadline = time.monotonic() + store.lock_timeout
        while True:
            try:
                with store.without_waiting(), store.deferred_sync() as pending:
                    result = fn()
            except WriteBusy as busy:
                if not busy.in_process:
                    break  # another process holds SQLite's lock: wait with SQLite's busy handler, off the loop
                await store.lock_released(deadline - time.monotonic())
                continue
            await store.durable_async(pending.seq)  # acknowledged only once the commit is on disk
            return result
    return await on_write_thread(rt, fn)


async def on_write_thread(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run ``fn`` (which opens its own write transaction) on the store's write threads even where writes run
    inline: a long write (a ledger import) must not hold the event loop. Return once the commit is on disk."""
    result, seq = await asyncio.wrap_future(rt.store.submit_write(fn))
    await rt.store.durable_async(seq)
    return result


async def in_reader(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run a read on the store's read threads."""
    return await asyncio.get_running_loop().run_in_executor(rt.store.read_executor, fn)


async def lookup(rt: Runtime, fn: Callable[[], T]) -> T:
    """A tiny indexed read: inline where the store says that is cheaper, else on a read thread."""
    if rt.store.inline_lookups:
        return fn()
    return await in_reader(rt, fn)


async def off_loop(fn: Callable[..., T], *args, **kwargs) -> T:
    """Run blocking work that is not a single database call (a network send, hashing an upload, reading a
    spreadsheet) on a worker thread: ``fn(*args, **kwargs)``."""
    return await run_in_threadpool(fn, *args, **kwargs)
