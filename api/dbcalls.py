"""Running blocking database work from async routes on the threads the store chose for it."""
from __future__ import annotations

import asyncio
from typing import Callable, TypeVar

from engine.runtime import Runtime

T = TypeVar("T")


async def in_writer(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run ``fn`` (which opens its own write transaction) on the store's write threads."""
    if rt.store.inline_writes:
        return fn()
    return await asyncio.get_running_loop().run_in_executor(rt.store.write_executor, fn)


async def in_reader(rt: Runtime, fn: Callable[[], T]) -> T:
    """Run a read on the store's read threads."""
    return await asyncio.get_running_loop().run_in_executor(rt.store.read_executor, fn)


async def lookup(rt: Runtime, fn: Callable[[], T]) -> T:
    """A tiny indexed read: inline where the store says that is cheaper, else on a read thread."""
    if rt.store.inline_lookups:
        return fn()
    return await in_reader(rt, fn)
