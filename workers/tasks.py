"""Celery tasks of the ``gpu`` queue: thin entry points from a message (an id) to the worker core.

Shared tasks: importing this module (``create_app`` includes it by name) registers them with the
process's app, and hooks the worker's own sweeper onto worker start-up (workers/core/sweep_loop.py).
Work they hand on goes through a dispatcher on their own app.
"""

from __future__ import annotations

import logging
import os
import sys
import uuid

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown

from producer.nightly import scan_all
from upscaler.errors import JobTimeoutError
from upscaler.settings import get_settings
from workers.core import runtime, sweep_loop
from workers.core.celery_app import GPU_QUEUE, NIGHTLY_TASK, SWEEP_TASK, UPSCALE_TASK
from workers.core.dispatch import CeleryDispatcher
from workers.core.failure_policy import decide, describe
from workers.core.messages import parse_id
from workers.core.retry import attempt_job, fail_job

log = logging.getLogger(__name__)

# What a worker process exits with when a job is stuck past the hard time limit.
EXIT_STUCK_JOB = 70


def exit_stuck_worker(job_id: uuid.UUID) -> None:
    """A job's thread is stuck past the hard time limit (in native code, say): fail the job and
    end the process; its supervisor (systemd, Kubernetes, Celery's prefork parent) starts a
    fresh one, and the other jobs it held are delivered again (acknowledged late, idempotent)."""
    error = JobTimeoutError(f"over the hard time limit of {get_settings().job_time_limit} s; "
                            "the worker process was restarted")
    decision = decide(error, 0, 0)
    fail_job(job_id, decision.code, describe(error, decision, 0))
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_STUCK_JOB)


# No Celery time limits: the GPU queue runs on the thread pool, which has none; run_job keeps
# the soft limit itself and its lease keeper calls exit_stuck_worker past the hard one.
@shared_task(name=UPSCALE_TASK, bind=True, max_retries=None)
def upscale_job(self, job_id: str) -> str:
    job_uuid = parse_id(job_id, "job id")
    if job_uuid is None:
        return "rejected"
    # Node, process, delivery: the jobs in flight in one process each hold their own claim.
    node = self.request.hostname or runtime.worker_name()
    worker = f"{node}:{runtime.worker_name().split(':')[-1]}/{(self.request.id or 'local')[:8]}"
    attempt = attempt_job(job_uuid, worker, self.request.retries, on_overrun=exit_stuck_worker)
    if attempt.outcome == "retry":
        raise self.retry(countdown=attempt.retry_in, exc=attempt.error)
    return attempt.outcome


@shared_task(name=NIGHTLY_TASK, bind=True)
def nightly_scan(self) -> list[dict]:
    """Scan every enabled watch: one batch per inbox per night with its new and changed images.

    Safe to run twice (a crashed scan is simply run again): jobs are unique, tonight's batch too.
    """
    return [result.to_json() for result in scan_all(CeleryDispatcher(self.app))]


@shared_task(name=SWEEP_TASK, bind=True)
def sweep(self) -> dict:
    """Expired leases back to the queue (or failed), lost messages re-sent; see workers.core.sweeper."""
    result = sweep_loop.sweep_once_if_free(CeleryDispatcher(self.app))
    return result.to_json() if result else {"skipped": "another sweep is running"}


@worker_ready.connect
def _start_sweeping(sender=None, **_kwargs) -> None:
    """Every gpu worker sweeps too (one at a time, under a lock), so recovery does not hang on beat."""
    consumed = set(sender.app.amqp.queues.consume_from or {}) if sender is not None else set()
    if GPU_QUEUE in consumed:
        sweep_loop.start(get_settings().sweep_every, CeleryDispatcher(sender.app))


@worker_shutdown.connect
def _stop_sweeping(**_kwargs) -> None:
    sweep_loop.stop()
