"""One attempt at a job, for every runner: the Celery task and the in-process worker alike.

:func:`attempt_job` runs the job once; what an error comes to (retry after a backoff, or fail
with which code) is decided by workers/core/failure_policy.py, the same for every runner. An
error before the job was claimed (the engine cannot be built) or while its end was recorded
(the database went away) is decided the same way here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from db import transitions
from db.session import session_scope
from upscaler.errors import ErrorCode
from upscaler.settings import get_settings
from workers.core import runtime
from workers.core.failure_policy import Kind, decide, describe
from workers.core.jobs import Attempt, Outcome, run_job
from workers.core.leftovers import discard_failed_job

log = logging.getLogger(__name__)


def attempt_job(job_id: uuid.UUID, worker: str, retries_so_far: int,
                on_overrun: Callable[[uuid.UUID], None] | None = None) -> Attempt:
    """Run the job once, ``retries_so_far`` retries after its first attempt."""
    try:
        return run_job(job_id, runtime.engine(), runtime.storage(), worker, retries_so_far, on_overrun=on_overrun)
    except Exception as exc:
        decision = decide(exc, retries_so_far, get_settings().transient_retries)
        if decision.kind is Kind.retry:
            log.warning("job %s: transient error outside the job (retry %d in %.1f s): %s", job_id,
                        retries_so_far + 1, decision.retry_in, exc)
            return Attempt(Outcome.retry, decision.retry_in, exc)
        log.error("job %s: failed outside the job: %s", job_id, exc, exc_info=exc)
        fail_job(job_id, decision.code, describe(exc, decision, retries_so_far), worker)
        return Attempt(Outcome.failed, error=exc)


def fail_job(job_id: uuid.UUID, code: ErrorCode, message: str, worker: str | None = None) -> bool:
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
