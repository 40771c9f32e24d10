"""The sweeper: SQL is the source of truth, so whatever the broker lost is rebuilt from it.

Runs every ``UPSCALER_SWEEP_EVERY`` seconds, in every gpu worker (workers/core/sweep_loop.py)
and as beat's task, one sweep at a time under a lock:
- running jobs whose lease expired (their worker died, or was cut off) go back to queued and
  get a new message, or fail with ``attempts_exhausted`` once their attempt budget is spent
  (what such a job staged or half wrote is deleted: workers/core/leftovers.py);
- queued jobs whose message is gone get a new one. Decided per job, never from a global broker
  count (a busy system always has messages in flight): a job is a candidate once its last
  message is older than ``UPSCALER_REQUEUE_AFTER`` (or it never had one: the broker was down at
  submit); where the broker can be looked into (Redis), a candidate whose id is still waiting or
  unacknowledged there is left alone, so a long backlog is not sent twice. Elsewhere every
  candidate is re-sent. A duplicate message is harmless: only one delivery can claim a job.
"""

from __future__ import annotations

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from db import jobs as jobs_table
from db import transitions
from db.models import utcnow
from db.session import session_scope
from upscaler.settings import get_settings
from upscaler.storage import Storage
from workers.core.celery_app import GPU_QUEUE
from workers.core.dispatch import Dispatcher
from workers.core.leftovers import discard_failed_job

log = logging.getLogger(__name__)
# Jobs read per query (and sent per enqueue call): each page is one indexed range read.
PAGE = 1000


@dataclass
class SweepResult:
    requeued_expired: int = 0
    failed_exhausted: int = 0
    resent_lost: int = 0

    def to_json(self) -> dict:
        return self.__dict__.copy()


def sweep(dispatcher: Dispatcher, page_size: int | None = None) -> SweepResult:
    """One sweep: every expired lease, then every queued job whose message is lost, ``page_size``
    jobs per query (default ``PAGE``), sent through ``dispatcher``."""
    settings = get_settings()
    page_size = page_size or PAGE
    result, now = SweepResult(), utcnow()
    while True:
        with session_scope() as session:
            expired = jobs_table.expired_leases(session, now, page_size)
            to_send, failed = [], []
            for job_id in expired:
                outcome = transitions.expire(session, job_id, settings.max_attempts)
                if outcome == "queued":
                    result.requeued_expired += 1
                    to_send.append(job_id)
                elif outcome == "failed":
                    result.failed_exhausted += 1
                    failed.append(job_id)
        if to_send:
            dispatcher.jobs(to_send)
        for job_id in failed:  # its worker died: what it staged or half wrote goes
            discard_failed_job(job_id, _storage())
        if len(expired) < page_size:
            break
    result.resent_lost = _resend_lost(dispatcher, now - timedelta(seconds=settings.requeue_after), page_size)
    if result.requeued_expired or result.resent_lost or result.failed_exhausted:
        log.warning("sweep: %s", result.to_json())
    return result


@functools.cache
def _storage() -> Storage:
    return Storage()


def _resend_lost(dispatcher: Dispatcher, stale: datetime, page_size: int) -> int:
    """Send again every queued job last sent before ``stale`` (or never) whose id the broker lacks.

    The broker's ids are read once; the candidates are paged through in (queued_at, id) order,
    so jobs whose message is still waiting (a long backlog) are skipped over, never found again
    and again in place of the lost ones behind them. Jobs sent here stop being candidates (their
    ``enqueued_at`` is now), and jobs queued during the pass are not stale yet: the pass ends."""
    in_broker = dispatcher.job_ids_waiting(GPU_QUEUE)
    cursor, resent = None, 0
    while True:
        with session_scope() as session:
            page = jobs_table.stale_queued(session, stale, cursor, page_size)
        if not page:
            return resent
        cursor = page[-1][1]
        lost: list[uuid.UUID] = [job_id for job_id, _ in page if in_broker is None or job_id not in in_broker]
        if lost:
            dispatcher.jobs(lost)
            resent += len(lost)
        if len(page) < page_size:
            return resent
