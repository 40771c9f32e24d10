"""Celery settings that the delivery guarantees rest on, and the task's handling of bad messages."""

from __future__ import annotations

import pickle

import pytest
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads

from upscaler.settings import get_settings
from workers.core.celery_app import create_app
from workers.tasks import upscale_job

app = create_app(get_settings())


def test_json_only_and_late_acks() -> None:
    conf = app.conf
    assert conf.task_serializer == "json" and conf.accept_content == ["json"] and conf.result_serializer == "json"
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.worker_send_task_events and conf.task_ignore_result
    assert {q.name for q in conf.task_queues} == {"gpu", "training"}


def test_pickled_message_is_refused() -> None:
    with pytest.raises(ContentDisallowed):
        loads(pickle.dumps({"job": 1}), "application/x-python-serialize", "binary", accept=app.conf.accept_content)


def test_malformed_job_id_is_rejected_not_retried() -> None:
    assert upscale_job.apply(args=["../../etc/passwd"]).get() == "rejected"


def test_worker_pool_per_queue() -> None:
    """GPU workers keep jobs in flight on threads; anything serving training runs one task in a child."""
    import typer

    from cli.service_cmd import pool_arguments

    assert pool_arguments("gpu", 4) == ["--pool", "threads", "--concurrency", "4"]
    assert pool_arguments("training", 4) == ["--pool", "prefork", "--concurrency", "1"]
    assert pool_arguments("gpu,training", 4) == ["--pool", "prefork", "--concurrency", "1"]
    with pytest.raises(typer.BadParameter, match="choose gpu and/or training"):
        pool_arguments("gpu,videos", 3)


def test_upscale_task_has_no_celery_time_limits() -> None:
    """The thread pool ignores them: run_job keeps the limits (tests/test_jobs_in_flight.py)."""
    from workers.tasks import upscale_job

    assert upscale_job.time_limit is None and upscale_job.soft_time_limit is None
