"""Celery tasks: thin glue from a message (a job id) to :func:`workers.jobs.run_job`."""

from __future__ import annotations

import logging
import random
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy.exc import OperationalError

from upscaler.errors import TransientError
from upscaler.settings import get_settings
from workers import runtime
from workers.app import NIGHTLY_TASK, SWEEP_TASK, UPSCALE_TASK, app
from workers.jobs import fail_unexpected, run_job

log = logging.getLogger(__name__)


def parse_id(value: object, what: str) -> uuid.UUID | None:
    """The id a message carries; None (logged) for a malformed message, which is then dropped:
    retrying cannot make it valid."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.error("rejected malformed task message: %s %r is not a UUID", what, value)
        return None


def backoff_seconds(retries: int, base: float = 2.0, cap: float = 120.0) -> float:
    """Exponential backoff with full jitter: spreads retries of many workers after an outage."""
    return random.uniform(0, min(cap, base * 2**retries))


@app.task(name=UPSCALE_TASK, bind=True, max_retries=None, soft_time_limit=get_settings().job_soft_time_limit,
          time_limit=get_settings().job_time_limit)
def upscale_job(self, job_id: str) -> str:
    job_uuid = parse_id(job_id, "job id")
    if job_uuid is None:
        return "rejected"
    worker = f"{self.request.hostname or runtime.worker_name()}:{runtime.worker_name().split(':')[-1]}"
    try:
        return run_job(job_uuid, runtime.engine(), runtime.storage(), worker).value
    except (TransientError, OperationalError) as exc:
        if self.request.retries >= get_settings().transient_retries:
            fail_unexpected(job_uuid, "transient_exhausted", f"gave up after {self.request.retries} retries: {exc}")
            return "failed"
        raise self.retry(countdown=backoff_seconds(self.request.retries), exc=exc)
    except SoftTimeLimitExceeded:
        fail_unexpected(job_uuid, "timeout", f"over the time limit of {get_settings().job_soft_time_limit} s", worker)
        return "failed"
    except Exception as exc:  # a bug or an out-of-memory: fail this job, keep the worker serving
        log.exception("job %s: unexpected error", job_uuid)
        fail_unexpected(job_uuid, "internal_error", f"{type(exc).__name__}: {exc}", worker)
        return "failed"


@app.task(name=NIGHTLY_TASK)
def nightly_scan() -> list[dict]:
    """Scan every enabled watch: one batch per inbox per night with its new and changed images.

    Safe to run twice (a crashed scan is simply run again): jobs are unique, tonight's batch too.
    """
    from producer.intake import scan_all

    return [{"watch": r.watch, "batch_id": str(r.batch_id) if r.batch_id else None, "created": r.created}
            for r in scan_all()]


@app.task(name=SWEEP_TASK)
def sweep() -> dict:
    """Expired leases back to the queue (or failed), lost messages re-sent; see workers.sweeper."""
    from workers.sweeper import sweep as run_sweep

    return run_sweep().to_json()
