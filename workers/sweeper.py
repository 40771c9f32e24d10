"""The sweeper: SQL is the source of truth, so whatever the broker lost is rebuilt from it.

Runs every ``UPSCALER_SWEEP_EVERY`` seconds (a beat entry, on the gpu queue):
- running jobs whose lease expired (their worker died, or was cut off) go back to queued and
  get a new message, or fail with ``attempts_exhausted`` once their attempt budget is spent;
- queued jobs whose message is gone (the broker lost its data: it was flushed or restarted
  without persistence) get a new message. "Gone" means: the broker's queue and its unacked
  set are both empty while jobs have been waiting longer than ``UPSCALER_REQUEUE_AFTER`` since
  their last message. A duplicate message is harmless: only one delivery can claim a job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update

from db import transitions
from db.models import Job, JobStatus, utcnow
from db.session import session_scope
from upscaler.settings import get_settings

log = logging.getLogger(__name__)
BATCH = 1000


@dataclass
class SweepResult:
    requeued_expired: int = 0
    failed_exhausted: int = 0
    resent_lost: int = 0

    def to_json(self) -> dict:
        return self.__dict__.copy()


def broker_is_empty(queue: str = "gpu") -> bool | None:
    """True when the Redis broker holds no message for ``queue`` (waiting or unacked); None if unknown."""
    from workers.app import sender

    try:
        with sender().connection_for_write() as connection:
            client = connection.default_channel.client
            waiting = client.llen(queue)
            unacked = client.hlen("unacked")
            return waiting == 0 and unacked == 0
    except Exception as exc:  # not Redis, or unreachable: we cannot tell
        log.debug("broker queue length unknown: %s", exc)
        return None


def sweep() -> SweepResult:
    from producer.enqueue import enqueue

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
        if broker_is_empty():
            stale = now - timedelta(seconds=settings.requeue_after)
            lost = list(session.scalars(select(Job.id).where(
                Job.status == JobStatus.queued,
                or_(Job.enqueued_at < stale, (Job.enqueued_at.is_(None)) & (Job.queued_at < stale))).limit(BATCH)))
            if lost:
                session.execute(update(Job).execution_options(synchronize_session=False).where(Job.id.in_(lost)).values(enqueued_at=now))
                session.commit()
            result.resent_lost = len(lost)
            to_send += lost
    enqueue(to_send)
    if to_send or result.failed_exhausted:
        log.warning("sweep: %s", result.to_json())
    return result
