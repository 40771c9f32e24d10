"""The sweeper: SQL is the source of truth, so whatever the broker lost is rebuilt from it.

Runs every ``UPSCALER_SWEEP_EVERY`` seconds, in every gpu worker (workers/core/sweep_loop.py)
and as beat's task, one sweep at a time under a lock:
- running jobs whose lease expired (their worker died, or was cut off) go back to queued and
  get a new message, or fail with ``attempts_exhausted`` once their attempt budget is spent;
- queued jobs whose message is gone get a new one. Decided per job, never from a global broker
  count (a busy system always has messages in flight): a job is a candidate once its last
  message is older than ``UPSCALER_REQUEUE_AFTER`` (or it never had one: the broker was down at
  submit); where the broker can be looked into (Redis), a candidate whose id is still waiting or
  unacknowledged there is left alone, so a long backlog is not sent twice. Elsewhere every
  candidate is re-sent. A duplicate message is harmless: only one delivery can claim a job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select

from db import transitions
from db.models import Job, JobStatus, utcnow
from db.session import session_scope
from upscaler.settings import get_settings
from workers.core.broker_contents import job_ids_in_broker
from workers.core.celery_app import GPU_QUEUE
from workers.core.dispatch import enqueue

log = logging.getLogger(__name__)
BATCH = 1000


@dataclass
class SweepResult:
    requeued_expired: int = 0
    failed_exhausted: int = 0
    resent_lost: int = 0

    def to_json(self) -> dict:
        return self.__dict__.copy()


def sweep() -> SweepResult:
    settings = get_settings()
    result, now = SweepResult(), utcnow()
    with session_scope() as session:
        expired = list(session.scalars(select(Job.id).where(
            Job.status == JobStatus.running, Job.lease_expires_at < now).limit(BATCH)))
        to_send = []
        for job_id in expired:
            outcome = transitions.expire(session, job_id, settings.max_attempts)
            if outcome == "queued":
                result.requeued_expired += 1
                to_send.append(job_id)
            elif outcome == "failed":
                result.failed_exhausted += 1
        lost = _lost_messages(session, now - timedelta(seconds=settings.requeue_after))
        result.resent_lost = len(lost)
        to_send += lost
    if to_send:
        enqueue(to_send)
    if to_send or result.failed_exhausted:
        log.warning("sweep: %s", result.to_json())
    return result


def _lost_messages(session, stale) -> list:
    """Queued jobs last sent before ``stale`` (or never sent) whose message the broker lacks."""
    candidates = list(session.scalars(select(Job.id).where(
        Job.status == JobStatus.queued,
        or_(Job.enqueued_at < stale, Job.enqueued_at.is_(None) & (Job.queued_at < stale)))
        .order_by(Job.queued_at).limit(BATCH)))
    if not candidates:
        return []
    in_broker = job_ids_in_broker(GPU_QUEUE)
    if in_broker is None:
        return candidates
    return [job_id for job_id in candidates if str(job_id) not in in_broker]
