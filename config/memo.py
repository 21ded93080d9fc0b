"""Lookups shared within one batch of work, such as a pass of the alert processor.

Opening a hundred incidents in a row should choose and freeze each escalation policy and
read each checklist template once, not a hundred times. Outside `batch_memo()` nothing is
remembered, so a request or a task always sees the database as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_memo: ContextVar[dict | None] = ContextVar("batch_memo", default=None)


@contextmanager
def batch_memo(*, join: bool = False) -> Iterator[None]:
    """A batch of work; `join`: part of the batch going on, if there is one."""
    if join and _memo.get() is not None:
        yield
        return
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memoized(key: Hashable, compute: Callable[[], T]) -> T:
    """`compute()`, or within a batch its first result for `key`."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]
