"""Repeated bad tokens from one address: answered 429 with Retry-After past a threshold.

Failures are counted per client address in fixed windows of the injected clock (tests move time instead of
sleeping). Once an address has sent ``limit`` bad tokens in a window, its requests are refused until the
window ends, before their token is looked up: guessing is capped at ``limit`` tries per window and costs
the database nothing. A token that authenticated recently still goes through from a refused address, so a
guesser behind the same NAT or proxy cannot lock out callers who are already working. Valid requests pay
one dictionary lookup and one hash.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict

from engine.clock import Clock

# Bounds on what is remembered, so a flood from many addresses or tokens cannot grow memory without end.
MAX_ADDRESSES = 10_000
MAX_KNOWN_TOKENS = 10_000


class AuthThrottle:
    """Per-address counts of bad tokens, and the recently good tokens that pass regardless."""

    def __init__(self, clock: Clock, *, limit: int, window_seconds: int) -> None:
        self.clock = clock
        self.limit = limit
        self.window = window_seconds
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, list] = OrderedDict()  # address -> [window start, count]
        self._known: OrderedDict[bytes, None] = OrderedDict()  # digests of tokens that authenticated

    def retry_after(self, address: str, token: str) -> int | None:
        """Seconds before ``address`` may try again, or None when this request may go ahead."""
        if self.limit <= 0 or address not in self._failures:
            return None
        now = self.clock.now().timestamp()
        with self._lock:
            entry = self._failures.get(address)
            if entry is None or now >= entry[0] + self.window:
                self._failures.pop(address, None)
                return None
            if entry[1] < self.limit or _digest(token) in self._known:
                return None
            return max(1, math.ceil(entry[0] + self.window - now))

    def failed(self, address: str) -> None:
        """Count a bad token from ``address``."""
        if self.limit <= 0:
            return
        now = self.clock.now().timestamp()
        with self._lock:
            entry = self._failures.get(address)
            if entry is None or now >= entry[0] + self.window:
                entry = self._failures[address] = [now, 0]
                self._failures.move_to_end(address)
                while len(self._failures) > MAX_ADDRESSES:
                    self._failures.popitem(last=False)
            entry[1] += 1

    def succeeded(self, token: str) -> None:
        """Remember a token that authenticated, so it passes even from an address being refused."""
        digest = _digest(token)
        with self._lock:
            self._known[digest] = None
            self._known.move_to_end(digest)
            if len(self._known) > MAX_KNOWN_TOKENS:
                self._known.popitem(last=False)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
