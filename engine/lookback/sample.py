"""Drawing a look-back sample that anyone can draw again from the seed and the population, with any tool.

Each item of the population gets the rank SHA-256(seed + "\\n" + item number), as lowercase hex; the sample
is the ``k`` items of smallest rank (ties, which SHA-256 makes practically impossible, by number). It does not
depend on Python's random generator, on the order rows come from the database, or on the store: the same seed
over the same population (the same set of item numbers) gives the same sample, in the same order.
"""
from __future__ import annotations

import hashlib
import math
import secrets


def rank(seed: str, number: str) -> str:
    """An item's place in the draw: SHA-256 over the seed, a line feed and the item number."""
    return hashlib.sha256(f"{seed}\n{number}".encode("utf-8")).hexdigest()


def draw(seed: str, numbers: list[str], k: int) -> list[str]:
    """The ``k`` numbers of smallest rank, in rank order."""
    return sorted(numbers, key=lambda n: (rank(seed, n), n))[:k]


def population_digest(numbers: list[str]) -> str:
    """SHA-256 over the numbers sorted, each followed by a line feed: what the sample was drawn from."""
    return hashlib.sha256("".join(f"{n}\n" for n in sorted(numbers)).encode("utf-8")).hexdigest()


def sample_size(population: int, *, size: int | None, percent: int | None) -> int:
    """How many to draw: ``size`` as asked, or ``percent`` of the population rounded up (at least one)."""
    if size is not None:
        return size
    return max(1, math.ceil(population * percent / 100)) if population else 0


def new_seed() -> str:
    """A fresh seed when the auditor gives none: 128 random bits as hex."""
    return secrets.token_hex(16)
