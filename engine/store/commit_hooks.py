"""Work to do once a write transaction has committed, and never if it rolls back (counting what it did).

``Store.write`` opens a list on the transaction's connection and runs it after the commit; code inside the
transaction adds to it with :func:`after_commit` without knowing which store or thread it runs in.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import sqlalchemy as sa

AFTER_COMMIT = "closeloop_after_commit"


def after_commit(conn: sa.Connection, fn: Callable[[], None]) -> None:
    """Call ``fn`` once the write transaction ``conn`` is in has committed (never if it rolls back)."""
    hooks = conn.info.get(AFTER_COMMIT)
    if hooks is None:  # not a Store.write transaction (a test's own connection): nothing to wait for
        fn()
    else:
        hooks.append(fn)


@contextmanager
def after_commit_hooks(conn: sa.Connection) -> Iterator[list[Callable[[], None]]]:
    """The after-commit list of the transaction on ``conn``, taken off the connection when the block ends."""
    hooks: list[Callable[[], None]] = []
    conn.info[AFTER_COMMIT] = hooks
    try:
        yield hooks
    finally:
        conn.info.pop(AFTER_COMMIT, None)


def run_hooks(hooks: list[Callable[[], None]]) -> None:
    """Run what the committed transaction asked for, in order."""
    for fn in hooks:
        fn()
