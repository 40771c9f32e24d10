"""Hand job ids to the workers: the Celery ``gpu`` queue, or the in-process worker.

With no broker configured (the embedded default) the jobs run right here, a few at a time,
through the same :func:`workers.jobs.run_job` a Celery worker uses.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable, Iterable

from upscaler.errors import TransientError
from upscaler.settings import get_settings


def enqueue(job_ids: Iterable[uuid.UUID], on_done: Callable[[uuid.UUID, str], None] | None = None) -> None:
    if get_settings().broker_url is None:
        run_in_process(job_ids, on_done)
        return
    from sqlalchemy import update

    from db.models import Job, utcnow
    from db.session import session_scope
    from workers.app import GPU_QUEUE, UPSCALE_TASK, sender

    job_ids = list(job_ids)
    app = sender()
    with app.producer_or_acquire() as producer:
        for job_id in job_ids:
            app.send_task(UPSCALE_TASK, args=[str(job_id)], queue=GPU_QUEUE, producer=producer)
    # When the messages went out: the sweeper re-sends those the broker loses.
    with session_scope() as session:
        for start in range(0, len(job_ids), 1000):
            session.execute(update(Job).execution_options(synchronize_session=False).where(Job.id.in_(job_ids[start : start + 1000])).values(enqueued_at=utcnow()))


def run_in_process(job_ids: Iterable[uuid.UUID], on_done: Callable[[uuid.UUID, str], None] | None = None) -> None:
    """Run the jobs here, ``UPSCALER_WORKER_JOBS_IN_FLIGHT`` at a time, as a GPU worker does:
    one on the device while the others read, decode, encode and write."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from workers import runtime

    worker = f"in-process:{runtime.worker_name()}"
    with ThreadPoolExecutor(get_settings().worker_jobs_in_flight, thread_name_prefix="job") as pool:
        running = {pool.submit(_run_with_retries, job_id, worker): job_id for job_id in job_ids}
        for done in as_completed(running):
            if on_done:
                on_done(running[done], done.result())


def _run_with_retries(job_id: uuid.UUID, worker: str) -> str:
    from workers import runtime
    from workers.jobs import fail_unexpected, run_job
    from workers.tasks import backoff_seconds

    retries, attempt = get_settings().transient_retries, 0
    while True:
        try:
            return run_job(job_id, runtime.engine(), runtime.storage(), f"{worker}/{job_id.hex[:8]}").value
        except TransientError as exc:
            if attempt == retries:
                fail_unexpected(job_id, "transient_exhausted", f"gave up after {retries} retries: {exc}")
                return "failed"
            time.sleep(backoff_seconds(attempt, base=0.5, cap=10))
            attempt += 1
