"""Running blocking database work from async routes on the threads the store chose for it."""
from __future__ import annotations

import asyncio
from typing import Callable, TypeVar

from engine.runtime import Runtime
from engine.store import WriteBusy

T = TypeVar("T")


async def in_writer(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run ``fn`` (which opens its own write transaction) inline if the store allows and the lock is free,
    else on the store's write threads, where its wait for the lock is bounded (then errors.Busy); return
    once its commit is on disk (engine.walsync), without blocking the event loop meanwhile."""
    store = rt.store
    if store.inline_writes:
        try:
            with store.without_waiting(), store.deferred_sync() as pending:
                result = fn()
        except WriteBusy:
            pass  # the lock is taken (another process, a checkpoint, queued writes): wait off the event loop
        else:
            await store.durable_async(pending.seq)  # acknowledged only once the commit is on disk
            return result
    result, seq = await asyncio.wrap_future(store.submit_write(fn))
    await store.durable_async(seq)
    return result


async def in_reader(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run a read on the store's read threads."""
    return await asyncio.get_running_loop().run_in_executor(rt.store.read_executor, fn)


async def lookup(rt: Runtime, fn: Callable[[], T]) -> T:
    """A tiny indexed read: inline where the store says that is cheaper, else on a read thread."""
    if rt.store.inline_lookups:
        return fn()
    return await in_reader(rt, fn)
