"""Training-run state changes, compare-and-set like the job transitions, plus a lease.

A segment task holds a run while its lease is fresh (renewed as it trains). A second
delivery of the same segment finds the lease fresh and does nothing; a delivery after the
holder died finds it expired and takes over from the newest checkpoint.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from db.models import FINISHED, JobStatus, TrainingRun, utcnow
from db.session import session_scope
from upscaler.errors import ErrorCode


def find(session: Session, ref: str) -> TrainingRun | None:
    """A run by id, or by unique id prefix or name; None if none or several match."""
    try:
        return session.get(TrainingRun, uuid.UUID(ref))
    except ValueError:
        matches = [r for r in session.scalars(select(TrainingRun)) if r.id.hex.startswith(ref) or r.name == ref]
        return matches[0] if len(matches) == 1 else None


def newest_first(session: Session) -> list[TrainingRun]:
    return list(session.scalars(select(TrainingRun).order_by(TrainingRun.created_at.desc())))


def wait_until_finished(run_id: uuid.UUID, poll_seconds: float = 1.0) -> None:
    """Block until the run succeeded, failed or was cancelled, reading its status every ``poll_seconds``."""
    while True:
        with session_scope() as session:
            if session.scalar(select(TrainingRun.status).where(TrainingRun.id == run_id)) in FINISHED:
                return
        time.sleep(poll_seconds)


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


def fail(session: Session, run_id: uuid.UUID, worker: str | None, code: ErrorCode, message: str) -> bool:
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
