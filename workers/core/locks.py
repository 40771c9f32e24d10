"""Single-runner locks: only one active scheduler, only one sweep at a time.

``upscaler beat`` holds ``BEAT_LOCK`` for its whole life; a sweep (beat's task or a worker's own
sweeping thread) holds ``SWEEP_LOCK`` while it runs. PostgreSQL: a session-level advisory lock on
a connection of its own (released by the server when that process or its connection dies, so a
standby takes over). SQLite (embedded): an exclusive ``flock`` on a file in the data dir. A second
beat waits, polling, and stays idle until the lock is free; a second sweep simply does not run.
"""

from __future__ import annotations

import fcntl
import logging
import time
from pathlib import Path

from db.session import unpooled_connection
from upscaler.settings import get_settings

log = logging.getLogger(__name__)
# Advisory lock keys, stable across releases (other versions of the code must agree on them).
BEAT_LOCK = 0x5550534341_4C45  # "UPSCALE"
SWEEP_LOCK = BEAT_LOCK + 1


class SchedulerLock:
    def __init__(self, database_url: str | None = None, key: int = BEAT_LOCK) -> None:
        self.url = database_url or get_settings().resolved_database_url()
        self.key = key
        self._held = None

    def try_acquire(self) -> bool:
        if self.url.startswith("postgresql"):
            # Its own unpooled connection: closing it must really end the session (and the lock).
            connection = unpooled_connection(self.url)
            cursor = connection.cursor()
            cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
            acquired = bool(cursor.fetchone()[0])
            connection.commit()
            if acquired:
                self._held = connection  # the lock lives as long as this connection
            else:
                connection.close()
            return acquired
        path = Path(get_settings().data_dir) / ("beat.lock" if self.key == BEAT_LOCK else f"lock-{self.key:x}")
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._held = handle
        return True

    def acquire(self, poll_seconds: float = 15.0) -> None:
        announced = False
        while not self.try_acquire():
            if not announced:
                log.warning("another scheduler holds the lock; standing by (checking every %.0f s)", poll_seconds)
                announced = True
            time.sleep(poll_seconds)
        log.info("scheduler lock acquired: this beat is the active one")

    def release(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None
