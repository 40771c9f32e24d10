"""The one retry policy for a job, used by the Celery task and by the in-process worker alike.

One attempt at a job ends in one of these ways:
- it finished (``succeeded``, ``failed`` for bad input, ``skipped`` when another delivery has it);
- a transient error (S3 throttling or 5xx, a lost database connection): the job is back to
  ``queued`` and is tried again after a backoff, ``UPSCALER_TRANSIENT_RETRIES`` times (default
  5), then fails with ``transient_exhausted``;
- anything unexpected (a bug, an out-of-memory, a model that cannot load): the job fails with
  ``internal_error`` at once. It is never left ``running``: the process goes on serving others.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from db import transitions
from db.session import TransientDatabaseError, session_scope
from upscaler.errors import TransientError
from upscaler.settings import get_settings
from workers.core import runtime
from workers.core.jobs import run_job
from workers.core.leftovers import discard_failed_job

log = logging.getLogger(__name__)

# Celery's task retries and the in-process loop wait this long at most between attempts
# (seconds): long enough to ride out an S3 brown-out, short enough that a batch does not stall.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120.0


def backoff_seconds(retries: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """Exponential backoff with full jitter: spreads the retries of many workers after an outage."""
    return random.uniform(0, min(cap, base * 2**retries))


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a job came to; ``retry_in`` (seconds) is set when it must be tried again."""

    outcome: str                 # succeeded | failed | skipped | retry
    retry_in: float = 0.0
    error: BaseException | None = None


def attempt_job(job_id: uuid.UUID, worker: str, retries_so_far: int,
                on_overrun: Callable[[uuid.UUID], None] | None = None) -> Attempt:
    """Run the job once and decide what comes next: the whole policy, for every caller."""
    try:
        return Attempt(run_job(job_id, runtime.engine(), runtime.storage(), worker, on_overrun=on_overrun).value)
    except (TransientError, TransientDatabaseError) as exc:
        limit = get_settings().transient_retries
        if retries_so_far >= limit:
            fail_job(job_id, "transient_exhausted", f"gave up after {retries_so_far} retries: {exc}", worker)
            return Attempt("failed", error=exc)
        log.warning("job %s: transient error (retry %d of %d): %s", job_id, retries_so_far + 1, limit, exc)
        return Attempt("retry", backoff_seconds(retries_so_far), exc)
    except Exception as exc:  # a bug or an out-of-memory: fail this job, keep serving the others
        log.exception("job %s: unexpected error", job_id)
        fail_job(job_id, "internal_error", f"{type(exc).__name__}: {exc}", worker)
        return Attempt("failed", error=exc)


def fail_job(job_id: uuid.UUID, code: str, message: str, worker: str | None = None) -> bool:
    """Fail a job this ``worker`` runs, or one still queued (it failed before it could be claimed:
    a model that does not load, say), never one another worker holds; with no ``worker``, the
    job whether running or queued (this process is about to end)."""
    with session_scope() as session:
        if worker is None:
            failed = transitions.fail(session, job_id, code, message)
        else:
            failed = (transitions.fail(session, job_id, code, message, worker)
                      or transitions.fail_queued(session, job_id, code, message))
    if failed:  # what it staged or half wrote goes with it
        discard_failed_job(job_id, runtime.storage())
    return failed
