"""Training-run state changes, compare-and-set like the job transitions, plus a lease.

A segment task holds a run while its lease is fresh (renewed as it trains). A second
delivery of the same segment finds the lease fresh and does nothing; a delivery after the
holder died finds it expired and takes over from the newest checkpoint.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, update
from sqlalchemy.orm import Session

from db.models import JobStatus, TrainingRun, utcnow


def claim(session: Session, run_id: uuid.UUID, worker: str, lease_seconds: int) -> TrainingRun | None:
    now = utcnow()
    result = session.execute(
        update(TrainingRun).execution_options(synchronize_session=False)
        .where(TrainingRun.id == run_id,
               or_(TrainingRun.status == JobStatus.queued,
                   (TrainingRun.status == JobStatus.running) & (TrainingRun.lease_expires_at < now)))
        .values(status=JobStatus.running, worker=worker, lease_expires_at=now + timedelta(seconds=lease_seconds),
                segments=TrainingRun.segments + 1, started_at=func.coalesce(TrainingRun.started_at, now))
    )
    session.commit()
    return session.get(TrainingRun, run_id, populate_existing=True) if result.rowcount == 1 else None


def heartbeat(session: Session, run_id: uuid.UUID, worker: str, lease_seconds: int, **progress: Any) -> bool:
    """Renew the lease (and record progress); False means the run was taken away or cancelled."""
    result = session.execute(
        update(TrainingRun).execution_options(synchronize_session=False)
        .where(TrainingRun.id == run_id, TrainingRun.status == JobStatus.running, TrainingRun.worker == worker)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds), **progress)
    )
    session.commit()
    return result.rowcount == 1


def _finish(session: Session, run_id: uuid.UUID, worker: str, **values: Any) -> bool:
    result = session.execute(
        update(TrainingRun).execution_options(synchronize_session=False)
        .where(TrainingRun.id == run_id, TrainingRun.status == JobStatus.running, TrainingRun.worker == worker)
        .values(lease_expires_at=None, **values)
    )
    session.commit()
    return result.rowcount == 1


def release(session: Session, run_id: uuid.UUID, worker: str) -> bool:
    """End of a segment: back to queued for the next one."""
    return _finish(session, run_id, worker, status=JobStatus.queued)


def succeed(session: Session, run_id: uuid.UUID, worker: str) -> bool:
    return _finish(session, run_id, worker, status=JobStatus.succeeded, finished_at=utcnow())


def fail(session: Session, run_id: uuid.UUID, worker: str | None, code: str, message: str) -> bool:
    condition = [TrainingRun.id == run_id, TrainingRun.status.in_([JobStatus.running, JobStatus.queued])]
    if worker:
        condition.append(TrainingRun.worker == worker)
    result = session.execute(
        update(TrainingRun).execution_options(synchronize_session=False).where(*condition)
        .values(status=JobStatus.failed, finished_at=utcnow(), error_code=code[:64], error_message=message[:2000],
                lease_expires_at=None)
    )
    session.commit()
    return result.rowcount == 1
