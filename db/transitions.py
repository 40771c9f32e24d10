"""Every job status change, each one a compare-and-set UPDATE checked by its row count.

Delivery is at least once, so two workers may hold the same job id: only the one whose UPDATE
matched the expected status goes on; the other learns it lost and stops. Nothing here reads a
status and then writes it in a second statement.

    queued --claim--> running --succeed--> succeeded
      ^                  |  \\--fail-----> failed --requeue_failed--> queued
      +---release--------+
    queued/running --cancel--> cancelled
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.models import Job, JobStatus, utcnow

MAX_ERROR_MESSAGE = 2000


def claim(session: Session, job_id: uuid.UUID, worker: str) -> Job | None:
    """queued -> running, counting the attempt. None if the job is not queued (any more)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.queued)
        .values(status=JobStatus.running, attempts=Job.attempts + 1, worker=worker,
                started_at=utcnow(), error_code=None, error_message=None)
    )
    session.commit()
    if result.rowcount != 1:
        return None
    return session.get(Job, job_id, populate_existing=True)


def succeed(session: Session, job_id: uuid.UUID, worker: str, **results: Any) -> bool:
    """running (by this worker) -> succeeded, with sizes and per-stage milliseconds."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(status=JobStatus.succeeded, finished_at=utcnow(), **results)
    )
    session.commit()
    return result.rowcount == 1


def fail(session: Session, job_id: uuid.UUID, code: str, message: str, worker: str | None = None) -> bool:
    """running (or still queued: a message that cannot even be processed) -> failed."""
    condition = [Job.id == job_id, Job.status.in_([JobStatus.running, JobStatus.queued])]
    if worker is not None:
        condition = [Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker]
    result = session.execute(
        update(Job).where(*condition)
        .values(status=JobStatus.failed, finished_at=utcnow(), error_code=code[:64],
                error_message=message[:MAX_ERROR_MESSAGE])
    )
    session.commit()
    return result.rowcount == 1


def release(session: Session, job_id: uuid.UUID, worker: str, code: str, message: str) -> bool:
    """running -> queued after a transient error; the reason stays visible until the retry."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == JobStatus.running, Job.worker == worker)
        .values(status=JobStatus.queued, error_code=code[:64], error_message=message[:MAX_ERROR_MESSAGE])
    )
    session.commit()
    return result.rowcount == 1


def requeue_failed(session: Session, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """failed -> queued for every failed job of a batch; the ids to enqueue again."""
    ids = list(session.scalars(
        update(Job)
        .where(Job.batch_id == batch_id, Job.status == JobStatus.failed)
        .values(status=JobStatus.queued, queued_at=utcnow(), finished_at=None)
        .returning(Job.id)
    ))
    session.commit()
    return ids


def cancel(session: Session, batch_id: uuid.UUID) -> int:
    """queued -> cancelled for a batch (running jobs finish; their workers find them cancelled)."""
    result = session.execute(
        update(Job).where(Job.batch_id == batch_id, Job.status == JobStatus.queued)
        .values(status=JobStatus.cancelled, finished_at=utcnow())
    )
    session.commit()
    return result.rowcount


def status_of(session: Session, job_id: uuid.UUID) -> JobStatus | None:
    return session.scalar(select(Job.status).where(Job.id == job_id))
