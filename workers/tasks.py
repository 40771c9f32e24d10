"""Celery tasks: thin glue from a message (a job id) to :func:`workers.jobs.run_job`."""

from __future__ import annotations

import logging
import os
import random
import sys
import uuid

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


# What a worker process exits with when a job is stuck past the hard time limit.
EXIT_STUCK_JOB = 70


def exit_stuck_worker(job_id: uuid.UUID) -> None:
    """A job's thread is stuck past the hard time limit (in native code, say): fail the job and
    end the process; its supervisor (systemd, Kubernetes, Celery's prefork parent) starts a
    fresh one, and the other jobs it held are delivered again (acknowledged late, idempotent)."""
    fail_unexpected(job_id, "timeout", f"over the hard time limit of {get_settings().job_time_limit} s; "
                    "the worker process was restarted")
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STUCK_JOB)


# No Celery time limits: the GPU queue runs on the thread pool, which has none; run_job keeps
# the soft limit itself and its lease keeper calls exit_stuck_worker past the hard one.
@app.task(name=UPSCALE_TASK, bind=True, max_retries=None)
def upscale_job(self, job_id: str) -> str:
    job_uuid = parse_id(job_id, "job id")
    if job_uuid is None:
        return "rejected"
    # Node, process, delivery: the jobs in flight in one process each hold their own claim.
    node = self.request.hostname or runtime.worker_name()
    worker = f"{node}:{runtime.worker_name().split(':')[-1]}/{(self.request.id or 'local')[:8]}"
    try:
        return run_job(job_uuid, runtime.engine(), runtime.storage(), worker, on_overrun=exit_stuck_worker).value
    except (TransientError, OperationalError) as exc:
        if self.request.retries >= get_settings().transient_retries:
            fail_unexpected(job_uuid, "transient_exhausted", f"gave up after {self.request.retries} retries: {exc}")
            return "failed"
        raise self.retry(countdown=backoff_seconds(self.request.retries), exc=exc)
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
