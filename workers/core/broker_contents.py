"""Which job ids the broker still holds a message for, where the broker lets us look.

With Redis (Celery's kombu transport) a queue is a list of JSON envelopes, and messages that a
worker has taken but not yet acknowledged (running, prefetched, or waiting out a retry's
countdown) sit in the ``unacked`` hash. A job whose id is in neither has no message: the sweeper
sends it one. Other brokers cannot be looked into this way: the answer is None, and the sweeper
falls back to re-sending by age alone.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid

import numpy as np


log = logging.getLogger(__name__)
# kombu's Redis transport keeps a queue's messages of priority > 0 in lists named
# "<queue>\x06\x16<priority>"; these are the steps it uses by default.
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
UNACKED_HASH = "unacked"
# Messages read per Redis round trip: the broker is read a chunk at a time, never whole.
SCAN_CHUNK = 1000


class JobIds:
    """A set of job ids held as one sorted array of 16-byte values: 16 bytes per message, where a
    Python set of strings takes about 100 (a million queued messages: 16 MB, not 100 MB)."""

    def __init__(self, ids: list[bytes]) -> None:
        self._sorted = np.unique(np.array(ids, dtype="S16")) if ids else np.array([], dtype="S16")

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, job_id: object) -> bool:
        try:
            raw = np.array(_raw(job_id), dtype="S16")
        except ValueError:
            return False
        at = np.searchsorted(self._sorted, raw)
        return bool(at < len(self._sorted) and self._sorted[at] == raw)


def _raw(job_id: object) -> bytes:
    """The 16 bytes of a job id given as a UUID or its text; ValueError for anything else.
    (numpy's fixed-width bytes drop trailing zero bytes: compared as stored, consistently.)"""
    return (job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))).bytes


def job_ids_in_broker(app, queue: str) -> JobIds | None:
    """The first argument (a job id) of every message waiting in ``queue`` or taken but not yet
    acknowledged, on ``app``'s broker; None where the broker is not Redis or cannot be reached."""
    try:
        with app.connection_for_write() as connection:
            client = connection.default_channel.client
            ids: list[bytes] = []
            for name in [queue] + [f"{queue}{PRIORITY_SEPARATOR}{p}" for p in PRIORITY_STEPS if p]:
                for start in range(0, client.llen(name), SCAN_CHUNK):
                    for raw in client.lrange(name, start, start + SCAN_CHUNK - 1):
                        _add_job_id(ids, raw)
            for _, raw in client.hscan_iter(UNACKED_HASH, count=SCAN_CHUNK):
                _add_job_id(ids, raw, unacked=True)
            return JobIds(ids)
    except Exception as exc:  # not Redis, or unreachable: we cannot tell
        log.debug("cannot look into the broker: %s", exc)
        return None


def _add_job_id(ids: list[bytes], raw: bytes | str, unacked: bool = False) -> None:
    """Add the job id an envelope carries; envelopes that are not ours, or not valid, add nothing."""
    try:
        envelope = json.loads(raw)
        if unacked:
            envelope = envelope[0]  # [message, exchange, routing key]
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        if args:
            ids.append(_raw(args[0]))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return
