"""Item ids: UUIDs that start with the time they were made (RFC 9562, version 7).

An item's id is the key of its row's unique index and leads the keys of the indexes on its history,
notices, evidence files and checkpoint heads. Random ids (version 4) put each new item, and each notice a
sweep writes for a batch of items, on a page of its own all over those B-trees, so at a million items every
insert read and rewrote a page no other insert nearby used. Ids that ascend with time land next to each
other: items registered together, and the items a sweep takes in row order, write the same few pages.
The 62 random bits in each id keep ids unguessable and unique across processes.
"""
from __future__ import annotations

import os
import time

_RANDOM_BITS = 62
_SUB_MS_STEPS = 4096  # the 12 bits after the version: fractions of the millisecond (RFC 9562, 6.2 method 3)


def new_item_id(now_ns: int | None = None, random_bits: int | None = None) -> str:
    """A fresh item id: a version 7 UUID of ``now_ns`` (nanoseconds since the epoch; default the wall clock)
    and ``random_bits`` (62 of them; default from the OS: given only to make reproducible test data)."""
    ns = time.time_ns() if now_ns is None else now_ns
    ms, within = divmod(ns, 1_000_000)
    fraction = within * _SUB_MS_STEPS // 1_000_000
    if random_bits is None:
        random = int.from_bytes(os.urandom(8), "big") >> (64 - _RANDOM_BITS)
    else:
        random = random_bits & ((1 << _RANDOM_BITS) - 1)
    value = (ms << 80) | (0x7 << 76) | (fraction << 64) | (0b10 << 62) | random
    digits = f"{value:032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
