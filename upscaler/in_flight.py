"""A few work items in flight on threads, their results handed back in the items' order.

How one process keeps its device busy: while one image is on the device (``Engine.device_turn``
lets one image queue its tiles at a time), the others in flight read, decode, encode and write,
which release the GIL. Results come back in the items' order, so what a caller prints or reports
does not depend on which thread finished first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def map_in_flight(work: Callable[[Item], Result], items: Iterable[Item], in_flight: int,
                  ahead: int | None = None, thread_name: str = "in-flight") -> Iterator[Result]:
    """``work(item)`` for each item, at most ``in_flight`` at once, results yielded in order.

    Items are taken from ``items`` lazily: at most ``ahead`` (default twice ``in_flight``) are
    started or finished and not yet yielded, so memory is bounded by what ``in_flight`` items
    hold while being worked on plus the ``ahead`` results waiting for an earlier, slower one (keep
    those small). The window is wider than ``in_flight`` so that a slow item holds up only the
    yielding, not the threads. An exception from ``work`` is raised when its result's turn comes;
    items not started then, or when the caller stops early, are never started.
    """
    if in_flight < 1:
        raise ValueError(f"in_flight must be at least 1, not {in_flight}")
    ahead = max(in_flight, ahead or 2 * in_flight)
    pending: deque[Future[Result]] = deque()
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix=thread_name)
    try:
        for item in items:
            pending.append(pool.submit(work, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        # Items already running finish (threads cannot be interrupted); the rest never start.
        pool.shutdown(wait=True, cancel_futures=True)
