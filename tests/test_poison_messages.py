"""A message the task cannot parse never holds a worker slot, on Redis and on RabbitMQ.

A message with a valid task header (the upscale task's name, an id) but a JSON body of the wrong
shape (``[1, 2, 3]`` instead of ``[args, kwargs, embed]``) is acknowledged, logged and dropped:
a worker with one slot takes three of them in a row and then serves the real jobs after them.
"""

from __future__ import annotations

import collections
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from kombu import Connection, Exchange, Producer
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job
from tests.services import REDIS_DB, run_cli, service_env, start_worker, wait_for
from tests.textures import texture
from upscaler.imageio import encode
from workers.core.celery_app import GPU_QUEUE, UPSCALE_TASK

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "poison"
# Bodies a task cannot take: the protocol wants [args, kwargs, embed].
WRONG_SHAPES = [[1, 2, 3], {"job_id": "x"}, "just a string"]


@pytest.fixture
def amqp_url() -> str:
    """A RabbitMQ virtual host of our own (the machine's server, guest account), deleted afterwards."""
    vhost = f"upscaler-test-{REDIS_DB}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["rabbitmqctl", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)
    yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True)


def publish_wrong_shapes(broker_url: str) -> list[str]:
    """Messages with the upscale task's headers and bodies of the wrong shape; their task ids."""
    ids = []
    with Connection(broker_url) as connection:
        producer = Producer(connection.channel(), exchange=Exchange(""), serializer="json")
        for body in WRONG_SHAPES:
            task_id = str(uuid.uuid4())
            headers = {"lang": "py", "task": UPSCALE_TASK, "id": task_id, "root_id": task_id,
                       "parent_id": None, "group": None, "retries": 0, "eta": None, "expires": None,
                       "timelimit": [None, None], "argsrepr": repr(body), "kwargsrepr": "{}", "origin": "test"}
            producer.publish(body, routing_key=GPU_QUEUE, headers=headers, declare=[],
                             correlation_id=task_id, delivery_mode=2)
            ids.append(task_id)
    return ids


def statuses(pg_url: str) -> collections.Counter:
    with Session(create_engine(pg_url)) as session:
        return collections.Counter(job.status.value for job in session.scalars(select(Job)))


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_messages_the_task_cannot_parse_are_dropped_not_held(broker: str, request, pg_url: str, s3,
                                                             s3_endpoint: str, isolated_data_dir: Path,
                                                             tmp_path: Path) -> None:
    broker_url = request.getfixturevalue("redis_url" if broker == "redis" else "amqp_url")
    s3.create_bucket(Bucket=BUCKET)
    for i in range(2):
        s3.put_object(Bucket=BUCKET, Key=f"in/{i}.png", Body=encode(texture(8, 8, seed=i), "png"))
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=broker_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1", worker_jobs_in_flight="1")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    worker = start_worker(env, tmp_path)  # one slot: a message held for good would stop it
    try:
        poison = publish_wrong_shapes(broker_url)
        submitted = run_cli(["submit", f"s3://{BUCKET}/in/", "--output", f"s3://{BUCKET}/out/", "--json"], env)
        assert json.loads(submitted.stdout)["created"] == 2, submitted.stderr
        wait_for(lambda: statuses(pg_url)["succeeded"] == 2, 60, "the jobs behind the poison")
        assert worker.proc.poll() is None
        for task_id in poison:
            assert f"dropped task message {task_id}" in worker.output()
    finally:
        worker.stop()
    if broker == "redis":
        import redis

        client = redis.Redis(db=REDIS_DB)
        assert client.llen(GPU_QUEUE) == 0 and client.hlen("unacked") == 0  # acknowledged, not parked
