"""Hand work to whoever runs it: a :class:`Dispatcher`, chosen once by the process's composition
root (the command line: cli/common.py ``dispatcher()``; a worker: its own Celery app).

- :class:`CeleryDispatcher`: one message per job on the ``gpu`` queue, one per training segment on
  ``training``. SQL first, broker second: a job is committed ``queued`` before its message is
  sent, and ``enqueued_at`` records when its last message went out. If the broker cannot be
  reached, the jobs stay queued with no message, :class:`DispatchError` says so, and the sweeper
  sends them once the broker is back (workers/core/sweeper.py); nothing is lost either way.
- :class:`InProcessDispatcher`: with no broker configured (the embedded default), the work runs
  right here, jobs a few at a time, segments one after another, under the same failure policy
  a queue worker applies (workers/core/failure_policy.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import closing
from typing import TYPE_CHECKING

from kombu.common import maybe_declare

from db import jobs as jobs_table
from db.session import session_scope
from upscaler.errors import ErrorCode, TransientError
from upscaler.in_flight import map_in_flight
from upscaler.settings import get_settings
from workers.core import runtime
from workers.core.celery_app import GPU_QUEUE, TRAIN_SEGMENT_TASK, TRAINING_QUEUE, UPSCALE_TASK

if TYPE_CHECKING:
    from celery import Celery

    from workers.core.broker_contents import JobIds

log = logging.getLogger(__name__)
SEND_CHUNK = 1000   # messages sent, then stamped as sent in SQL, per step
SEND_BATCH = 500    # broker operations per round trip, where the transport batches (Redis)

OnDone = Callable[[uuid.UUID, str], None]
# One training segment, as training.service.run_segment runs it: (run id, worker name, retries so
# far) -> something with ``outcome`` and ``retry_in``. Handed in by the composition root: the
# training package sits above the worker core.
RunSegment = Callable[[uuid.UUID, str, int], object]


class DispatchError(TransientError):
    """The broker did not take the messages; the jobs are queued in SQL and will be re-sent."""

    code = ErrorCode.broker_unreachable


class Dispatcher(ABC):
    runs_here = False  # whether handing work over runs it in this process, before returning
    @abstractmethod
    def jobs(self, job_ids: Iterable[uuid.UUID], on_done: OnDone | None = None,
             stop: threading.Event | None = None) -> None:
        """Hand queued jobs over. ``on_done`` hears of each job that ends here, and ``stop`` stops
        starting more (in process only: see :func:`run_in_process`)."""

    @abstractmethod
    def training_segment(self, run_id: uuid.UUID) -> None:
        """Hand over the next segment of a queued training run."""

    def job_ids_waiting(self, queue: str) -> JobIds | None:
        """The job ids the broker still holds a message for, where it can be looked into."""
        return None


class CeleryDispatcher(Dispatcher):
    def __init__(self, app: Celery) -> None:
        self.app = app

    def jobs(self, job_ids: Iterable[uuid.UUID], on_done: OnDone | None = None,
             stop: threading.Event | None = None) -> None:
        job_ids = list(job_ids)
        for start in range(0, len(job_ids), SEND_CHUNK):
            chunk = job_ids[start : start + SEND_CHUNK]
            try:
                # kombu buffers the chunk's messages and hands them to the broker SEND_BATCH at a time:
                # on Redis one pipelined round trip each, not one per message. The queue is declared
                # once per chunk, not once per message (each a retry wrapper's worth of CPU).
                with self.app.producer_or_acquire() as producer, producer.batch(max_size=SEND_BATCH):
                    maybe_declare(self.app.amqp.queues[GPU_QUEUE], producer.channel, retry=True)
                    for job_id in chunk:
                        self.app.send_task(UPSCALE_TASK, args=[str(job_id)], queue=GPU_QUEUE, producer=producer,
                                           declare=[], retry=True,
                                           retry_policy={"max_retries": 2, "interval_start": 0.5})
            except Exception as exc:  # kombu's connection errors vary by transport
                raise DispatchError(f"the broker did not take {len(job_ids) - start} of {len(job_ids)} job "
                                    f"messages ({type(exc).__name__}: {exc}); they stay queued and are sent again "
                                    "once the broker is back") from exc
            with session_scope() as session:
                jobs_table.mark_sent(session, chunk)

    def training_segment(self, run_id: uuid.UUID) -> None:
        self.app.send_task(TRAIN_SEGMENT_TASK, args=[str(run_id)], queue=TRAINING_QUEUE)

    def job_ids_waiting(self, queue: str) -> JobIds | None:
        from workers.core.broker_contents import job_ids_in_broker

        return job_ids_in_broker(self.app, queue)


class InProcessDispatcher(Dispatcher):
    runs_here = True

    def __init__(self, run_segment: RunSegment | None = None) -> None:
        self.run_segment = run_segment

    def jobs(self, job_ids: Iterable[uuid.UUID], on_done: OnDone | None = None,
             stop: threading.Event | None = None) -> None:
        run_in_process(job_ids, on_done, stop)

    def training_segment(self, run_id: uuid.UUID) -> None:
        """Every segment of the run, one after another, until it ends."""
        from workers.core.failure_policy import IN_PROCESS_BACKOFF_SCALE

        if self.run_segment is None:
            raise RuntimeError("this in-process dispatcher was made without a training runner")
        retries = 0
        while True:
            segment = self.run_segment(run_id, f"in-process:{run_id.hex[:6]}", retries)
            if segment.outcome == "retry":
                time.sleep(segment.retry_in * IN_PROCESS_BACKOFF_SCALE)
                retries += 1
            elif segment.outcome != "continue":
                return


def in_process_worker() -> str:
    """The worker name the jobs run here are claimed under (each job's own ends in ``/<id>``)."""
    return f"in-process:{runtime.worker_name()}"


def run_in_process(job_ids: Iterable[uuid.UUID], on_done: OnDone | None = None,
                   stop: threading.Event | None = None) -> None:
    """Run the jobs here, ``UPSCALER_WORKER_JOBS_IN_FLIGHT`` at a time, as a GPU worker does:
    one on the device while the others read, decode, encode and write. Returns when all ended;
    ``on_done`` hears of each in the order given. Once ``stop`` is set, the jobs running finish
    and the others are not started: they stay queued, outcome ``"left"``."""
    worker = in_process_worker()

    def settle(job_id: uuid.UUID) -> tuple[uuid.UUID, str]:
        if stop is not None and stop.is_set():
            return job_id, "left"
        return job_id, _run_until_settled(job_id, f"{worker}/{job_id.hex[:8]}")

    with closing(map_in_flight(settle, job_ids, get_settings().worker_jobs_in_flight, thread_name="job")) as ended:
        for job_id, outcome in ended:
            if on_done:
                on_done(job_id, outcome)


def _run_until_settled(job_id: uuid.UUID, worker: str) -> str:
    # Here, not at the top: running a job brings the engine and torch (a gigabyte, seconds to
    # import), which a process that only sends messages (submit, intake, the sweeper) never needs.
    from workers.core.failure_policy import IN_PROCESS_BACKOFF_SCALE
    from workers.core.retry import attempt_job

    retries = 0
    while True:
        attempt = attempt_job(job_id, worker, retries)
        if attempt.outcome != "retry":
            return attempt.outcome.value
        time.sleep(attempt.retry_in * IN_PROCESS_BACKOFF_SCALE)
        retries += 1
