"""The sweeper inside every gpu worker: recovery that does not hinge on ``upscaler beat``.

Each worker process runs a daemon thread that, every ``UPSCALER_SWEEP_EVERY`` seconds (with
jitter, so that a fleet started together does not sweep in step), tries the sweep lock without
waiting and sweeps only if it got it: at most one sweep runs at a time in the whole deployment,
whether beat's task or a worker's thread started it. A deployment whose beat is down still gets
a killed worker's jobs back within a lease and a sweep period.
"""

from __future__ import annotations

import logging
import random
import threading

from workers.core.dispatch import Dispatcher
from workers.core.locks import SWEEP_LOCK, SchedulerLock
from workers.core.sweeper import SweepResult, sweep

log = logging.getLogger(__name__)

_stop = threading.Event()
_thread: threading.Thread | None = None


def sweep_once_if_free(dispatcher: Dispatcher) -> SweepResult | None:
    """One sweep, if no other process is sweeping now; its result, or None if it did not run."""
    lock = SchedulerLock(key=SWEEP_LOCK)
    if not lock.try_acquire():
        return None
    try:
        return sweep(dispatcher)
    finally:
        lock.release()


def _run(every: float, dispatcher: Dispatcher) -> None:
    while not _stop.wait(every * random.uniform(0.8, 1.2)):
        try:
            sweep_once_if_free(dispatcher)
        except Exception as exc:  # the database or broker is away: the next period tries again
            log.warning("worker sweep failed: %s", exc)


def start(every: float, dispatcher: Dispatcher) -> None:
    """Start this process's sweeping thread (once)."""
    global _thread
    if _thread is not None and _thread.is_alive():
        return
    _stop.clear()
    _thread = threading.Thread(target=_run, args=(every, dispatcher), name="sweeper", daemon=True)
    _thread.start()


def stop() -> None:
    _stop.set()
