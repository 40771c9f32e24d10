"""Every job status change, each one a compare-and-set UPDATE checked by its row count.

Delivery is at least once, so two workers may hold the same job id: only the one whose UPDATE
matched the expected status goes on; the other learns it lost and stops. Nothing here reads a
status and then writes it in a second statement.

    queued --claim--> running --succeed--> succeeded
      ^                  |  \\--fail-----> failed --requeue_failed--> queued
      +---release--------+
      +---expire (sweeper: lease ran out, the worker died)
    queued/running --cancel--> cancelled
    (new) --refuse--> failed   (before it is inserted: it will never run)

A running job holds a lease that its worker renews (``heartbeat``). A claim also succeeds on
a running job whose lease has expired: that is how a redelivered message takes over the job
of a worker that died mid-inference.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from db.jobs import NewJob, chunks
from db.models import Job, JobStatus, utcnow
from upscaler.errors import ErrorCode

MAX_ERROR_MESSAGE = 2000


def claim(session: Session, job_id: uuid.UUID, worker: str, lease_seconds: int = 300,
          max_attempts: int = 5) -> Job | None:
    """queued (or running with an expired lease) -> running, counting the attempt.

    None if another delivery holds it, it has finished, or its attempt budget is spent.
    """
    now = utcnow()
    result = session.execute(
        update(Job).execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.attempts < max_attempts,
               or_(Job.status == JobStatus.queued,
                   and_(Job.status == JobStatus.running, Job.lease_expires_at < now)))
        .values(status=JobStatus.running, attempts=Job.attempts + 1, worker=worker, started_at=now,
                lease_expires_at=now + timedelta(seconds=lease_seconds), error_code=None, error_message=None)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(Job, job_id, populate_existing=True)


def refuse(job: NewJob, code: ErrorCode, message: str) -> None:
    """(new) -> failed: a job that will never run (its output key leaves its prefix, another
    source writes its output), inserted failed with the reason so that the operator sees it
    beside the batch's other jobs. Only a job not yet inserted, and not yet refused."""
    if job.status is not JobStatus.queued:
        raise ValueError(f"job for {job.source_uri} is already {job.status.value} ({job.error_code})")
    job.status, job.finished_at = JobStatus.failed, utcnow()
    job.error_code, job.error_message = code[:64], message[:MAX_ERROR_MESSAGE]


def heartbeat(session: Session, job_id: uuid.UUID, worker: str, lease_seconds: int) -> bool:
    """Renew a running job's lease; False if it is no longer this worker's."""
    result = session.execute(
        update(Job).execution_options(synchronize_session=False).where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )
    session.commit()
    return result.rowcount == 1


def expire(session: Session, job_id: uuid.UUID, max_attempts: int) -> str | None:
    """Sweeper: a running job whose lease ran out goes back to queued, or fails when its
    attempt budget is spent. Returns the new status, or None if it changed meanwhile."""
    now = utcnow()
    expired = and_(Job.id == job_id, Job.status == JobStatus.running, Job.lease_expires_at < now)
    failed = session.execute(
        update(Job).execution_options(synchronize_session=False).where(expired, Job.attempts >= max_attempts)
        .values(status=JobStatus.failed, finished_at=now, lease_expires_at=None, error_code=ErrorCode.attempts_exhausted,
                error_message=f"the worker stopped answering on each of {max_attempts} attempts (lease expired)")
    ).rowcount
    requeued = 0 if failed else session.execute(
        update(Job).execution_options(synchronize_session=False).where(expired).values(status=JobStatus.queued, lease_expires_at=None, enqueued_at=now)
    ).rowcount
    session.commit()
    return "failed" if failed else "queued" if requeued else None


def succeed(session: Session, job_id: uuid.UUID, worker: str, **results: Any) -> bool:
    """running (by this worker) -> succeeded, with sizes and per-stage milliseconds."""
    result = session.execute(
        update(Job).execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(status=JobStatus.succeeded, finished_at=utcnow(), lease_expires_at=None, **results)
    )
    session.commit()
    return result.rowcount == 1


def fail(session: Session, job_id: uuid.UUID, code: ErrorCode, message: str, worker: str | None = None) -> bool:
    """running (or still queued: a message that cannot even be processed) -> failed."""
    condition = [Job.id == job_id, Job.status.in_([JobStatus.running, JobStatus.queued])]
    if worker is not None:
        condition = [Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker]
    result = session.execute(
        update(Job).execution_options(synchronize_session=False).where(*condition)
        .values(status=JobStatus.failed, finished_at=utcnow(), error_code=code[:64], lease_expires_at=None,
                error_message=message[:MAX_ERROR_MESSAGE])
    )
    session.commit()
    return result.rowcount == 1


def fail_queued(session: Session, job_id: uuid.UUID, code: ErrorCode, message: str) -> bool:
    """queued -> failed: a job that cannot be processed before anyone has claimed it."""
    result = session.execute(
        update(Job).execution_options(synchronize_session=False).where(Job.id == job_id, Job.status == JobStatus.queued)
        .values(status=JobStatus.failed, finished_at=utcnow(), error_code=code[:64], lease_expires_at=None,
                error_message=message[:MAX_ERROR_MESSAGE])
    )
    session.commit()
    return result.rowcount == 1


def release(session: Session, job_id: uuid.UUID, worker: str, code: ErrorCode, message: str) -> bool:
    """running -> queued after a transient error; the reason stays visible until the retry."""
    result = session.execute(
        update(Job).execution_options(synchronize_session=False)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(status=JobStatus.queued, lease_expires_at=None, error_code=code[:64],
                error_message=message[:MAX_ERROR_MESSAGE])
    )
    session.commit()
    return result.rowcount == 1


# The codes an operator's retry leaves failed (ErrorCode says which and why).
NOT_RETRIED = tuple(code.value for code in ErrorCode if not code.operator_may_retry)


def requeue_failed(session: Session, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """failed -> queued for every failed job of a batch, but refusals made at submit; the ids to
    enqueue again."""
    ids = list(session.scalars(
        update(Job).execution_options(synchronize_session=False)
        .where(Job.batch_id == batch_id, Job.status == JobStatus.failed,
               or_(Job.error_code.is_(None), Job.error_code.not_in(NOT_RETRIED)))
        .values(status=JobStatus.queued, queued_at=utcnow(), finished_at=None, attempts=0, enqueued_at=None)
        .returning(Job.id)
    ))
    session.commit()
    return ids


def cancel(session: Session, batch_id: uuid.UUID) -> int:
    """queued -> cancelled for a batch (running jobs finish; their workers find them cancelled)."""
    result = session.execute(
        update(Job).execution_options(synchronize_session=False).where(Job.batch_id == batch_id, Job.status == JobStatus.queued)
        .values(status=JobStatus.cancelled, finished_at=utcnow())
    )
    session.commit()
    return result.rowcount


def release_interrupted(session: Session, job_ids: list[uuid.UUID], worker_prefix: str, message: str) -> int:
    """running -> queued, at once, for those of ``job_ids`` that workers named ``worker_prefix``...
    hold (an in-process run stopped by its user): no lease to wait out; how many."""
    released = 0
    for chunk in chunks(job_ids):
        released += session.execute(
            update(Job).execution_options(synchronize_session=False)
            .where(Job.id.in_(chunk), Job.status == JobStatus.running,
                   Job.worker.startswith(worker_prefix, autoescape=True))
            .values(status=JobStatus.queued, lease_expires_at=None, enqueued_at=None, error_code=ErrorCode.interrupted,
                    error_message=message[:MAX_ERROR_MESSAGE])
        ).rowcount
    session.commit()
    return released


def status_of(session: Session, job_id: uuid.UUID) -> JobStatus | None:
    return session.scalar(select(Job.status).where(Job.id == job_id))
