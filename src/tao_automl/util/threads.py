"""Calls that wait (a platform's cancel waits until its job has stopped) run side by side."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def at_once(fn: Callable[[T], R], items: Sequence[T], name: str, limit: int = 16) -> list[R]:
    """``fn`` of every item, each on a thread of its own (at most ``limit`` at a time), the results in the items'
    order; an exception of one is raised once all have ended."""
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix=name) as pool:
        return list(pool.map(fn, items))
