"""The Celery application: queues, serialization and delivery guarantees, in one place.

Built by :func:`create_app` from the settings, never at import: by the worker, beat and flower
entry points (``upscaler worker``, ``upscaler beat``, ``upscaler flower``; ``celery -A
workers.celery_main`` for Celery's own commands), and by a command line that sends work to the
broker (its :class:`~workers.core.dispatch.CeleryDispatcher`). The tasks are Celery shared tasks
(workers/tasks.py, workers/training_tasks.py): they belong to whichever app the process built.

- JSON only: messages carry job ids, never pickles or images; pickle is refused on receipt.
- Late acknowledgement with prefetch 1 (per thread) and reject-on-worker-lost: a job is
  acknowledged only once it has finished, so a worker that dies mid-job gets its message
  redelivered. A GPU worker is one process per GPU with a few jobs in flight in threads
  (``UPSCALER_WORKER_JOBS_IN_FLIGHT``); a training worker is one prefork child per GPU.
- No result backend: SQL is the source of truth, the broker only transport.
"""

from __future__ import annotations

from celery import Celery
from celery.signals import worker_init, worker_process_init
from kombu import Queue

from upscaler.settings import Settings, get_settings
from workers.core import redis_transport

GPU_QUEUE = "gpu"
TRAINING_QUEUE = "training"
UPSCALE_TASK = "upscaler.upscale_job"
TRAIN_SEGMENT_TASK = "upscaler.train.segment"
NIGHTLY_TASK = "upscaler.nightly_scan"
SWEEP_TASK = "upscaler.sweep"


def nightly_schedule(cron: str):
    """Celery's crontab from "minute hour day-of-month month day-of-week" (UTC)."""
    from celery.schedules import crontab

    parts = cron.split()
    if len(parts) != 5:
        raise ValueError(f"nightly_cron {cron!r}: expected 5 fields, minute hour day month weekday")
    minute, hour, day_of_month, month_of_year, day_of_week = parts
    return crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                   day_of_week=day_of_week)


def create_app(settings: Settings) -> Celery:
    # Before any connection is made: a poison message must not stop a worker.
    redis_transport.install()
    broker = settings.broker_url.get_secret_value() if settings.broker_url else "memory://"
    app = Celery("upscaler", broker=broker, include=["workers.tasks", "workers.training_tasks"],
                 task_cls="workers.core.task_messages:CheckedTask")  # a malformed body is dropped
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        event_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_queues=[Queue(GPU_QUEUE), Queue(TRAINING_QUEUE)],
        task_default_queue=GPU_QUEUE,
        task_routes={UPSCALE_TASK: {"queue": GPU_QUEUE}, TRAIN_SEGMENT_TASK: {"queue": TRAINING_QUEUE}},
        worker_send_task_events=True,   # Flower shows workers and tasks
        # No "task-sent" event per message: a catalogue sends 10^5 of them, and an event each
        # doubled the broker's traffic and cost a third of the sender's CPU. Flower shows a task
        # from the moment a worker receives it; what is queued is SQL's to say (`upscaler status`).
        task_send_sent_event=False,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # keep reconnecting through a broker outage
        worker_hijack_root_logger=False,
        worker_max_tasks_per_child=None,     # the model stays loaded for the process's life
        timezone="UTC",
        enable_utc=True,
        beat_schedule={"nightly-scan": {"task": NIGHTLY_TASK, "schedule": nightly_schedule(settings.nightly_cron),
                                        "options": {"queue": GPU_QUEUE}},
                       "sweep": {"task": SWEEP_TASK, "schedule": float(settings.sweep_every),
                                 "options": {"queue": GPU_QUEUE, "expires": settings.sweep_every}}},
    )
    return app


@worker_process_init.connect
def _serve_metrics(**_kwargs) -> None:
    """Each worker child (prefork: one per GPU) serves its own Prometheus metrics."""
    from upscaler.monitoring import serve

    serve(get_settings().metrics_port)


@worker_init.connect
def _serve_metrics_thread_pool(sender=None, **_kwargs) -> None:
    """A thread-pool worker has no children: the worker process itself serves them."""
    pool = getattr(sender, "pool_cls", "")
    if "thread" in f"{getattr(pool, '__module__', '')} {pool}".lower():
        _serve_metrics()
