"""Nothing lost: real worker and beat processes on real Redis, PostgreSQL and an S3 endpoint.

- a broker flushed while a worker is busy: every queued job is sent again within
  REQUEUE_AFTER + a sweep period, and every job succeeds exactly once;
- a submit while the broker is down saves its jobs and says so; once the broker is up they run;
- a worker killed mid-job with no beat running: the other worker's own sweeper gets the job
  back within a lease and a sweep period, and it succeeds once;
- a message that is not JSON leaves the worker consuming the next job;
- a source replaced after submit fails its job with ``source_changed``.
"""

from __future__ import annotations

import collections
import json
import re
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import BIN, REDIS_DB, Process, free_port, run_cli, service_env, start_worker, wait_for
from tests.textures import texture
from upscaler.imageio import encode

BUCKET = "recovery"
SWEEP_EVERY, REQUEUE_AFTER, LEASE = 2, 3, 3


def jobs(pg_url: str) -> list[Job]:
    with Session(create_engine(pg_url)) as session:
        return list(session.scalars(select(Job)))


def statuses(pg_url: str) -> collections.Counter:
    return collections.Counter(j.status.value for j in jobs(pg_url))


def successes(*processes: Process) -> collections.Counter:
    found: collections.Counter = collections.Counter()
    for process in processes:
        found.update(re.findall(r"job ([0-9a-f-]{36}) succeeded", process.output()))
    return found


@pytest.fixture
def env(pg_url: str, redis_url: str, s3, s3_endpoint: str, isolated_data_dir: Path) -> dict:
    s3.create_bucket(Bucket=BUCKET)
    environment = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url,
                              s3_endpoint_url=s3_endpoint, engine_noop="1", sweep_every=str(SWEEP_EVERY),
                              requeue_after=str(REQUEUE_AFTER), job_lease_seconds=str(LEASE))
    assert run_cli(["db", "upgrade"], environment).returncode == 0
    return environment


def put_images(s3, prefix: str, count: int) -> None:
    for i in range(count):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{i:02d}.png", Body=encode(texture(8, 8, seed=i), "png"))


def submit(env: dict, prefix: str) -> subprocess.CompletedProcess:
    return run_cli(["submit", f"s3://{BUCKET}/{prefix}/", "--output", f"s3://{BUCKET}/out/{prefix}/", "--json"], env)


def test_flushed_broker_is_rebuilt_while_the_worker_is_busy(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "flush", 24)
    busy = dict(env, UPSCALER_ENGINE_NOOP_DELAY_MS="600", UPSCALER_WORKER_JOBS_IN_FLIGHT="2")
    worker = start_worker(busy, tmp_path, name="busy@localhost")
    beat = Process([str(BIN / "upscaler"), "beat"], dict(env, UPSCALER_DATA_DIR=str(tmp_path / "beat")),
                   tmp_path / "beat.log")
    try:
        assert json.loads(submit(env, "flush").stdout)["created"] == 24
        wait_for(lambda: statuses(pg_url)["succeeded"] >= 2, 60, "the worker busy with the batch")
        redis.Redis(db=REDIS_DB).flushdb()  # the broker lost its data, messages in flight included
        flushed, flushed_at = time.monotonic(), datetime.now(UTC)
        left = {j.id for j in jobs(pg_url) if j.status == JobStatus.queued}
        assert left, f"the test needs jobs still queued when the broker loses them: {statuses(pg_url)}"

        def all_sent_again() -> bool:
            return all(j.status != JobStatus.queued or j.enqueued_at > flushed_at
                       for j in jobs(pg_url) if j.id in left)

        wait_for(all_sent_again, REQUEUE_AFTER + 2 * SWEEP_EVERY + 4, "every lost job sent again")
        assert time.monotonic() - flushed <= REQUEUE_AFTER + 2 * SWEEP_EVERY + 4
        wait_for(lambda: statuses(pg_url)["succeeded"] == 24, 90, "the whole batch")
    finally:
        beat.stop()
        worker.stop()
    assert statuses(pg_url) == collections.Counter({"succeeded": 24})
    assert set(successes(worker).values()) == {1} and len(successes(worker)) == 24  # each exactly once


def test_submit_with_the_broker_down_then_up(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "down", 4)
    down = dict(env, UPSCALER_BROKER_URL=f"redis://127.0.0.1:{free_port()}/{REDIS_DB}")
    result = submit(down, "down")
    assert result.returncode == 75, result.stderr
    said = " ".join(result.stderr.split())  # the console wraps long lines
    assert "the broker did not take 4 of 4 job messages" in said
    batch = json.loads(result.stdout)["batch_id"]
    assert batch in said and statuses(pg_url) == collections.Counter({"queued": 4})

    again = submit(env, "down")  # the broker is back: resubmitting sends what was never sent
    assert again.returncode == 0 and json.loads(again.stdout)["resent"] == 4 and json.loads(again.stdout)["created"] == 0
    worker = start_worker(env, tmp_path)
    try:
        wait_for(lambda: statuses(pg_url)["succeeded"] == 4, 60, "the saved jobs, run")
    finally:
        worker.stop()


def test_jobs_saved_while_the_broker_was_down_are_sent_by_the_sweeper(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "later", 3)
    down = dict(env, UPSCALER_BROKER_URL=f"redis://127.0.0.1:{free_port()}/{REDIS_DB}")
    assert submit(down, "later").returncode == 75
    worker = start_worker(env, tmp_path)  # no beat: the worker's own sweeper finds them
    try:
        wait_for(lambda: statuses(pg_url)["succeeded"] == 3, REQUEUE_AFTER + 3 * SWEEP_EVERY + 20, "the saved jobs")
    finally:
        worker.stop()


def test_killed_worker_recovered_without_beat(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "kill", 3)
    slow = dict(env, UPSCALER_ENGINE_NOOP_DELAY_MS="30000", UPSCALER_WORKER_JOBS_IN_FLIGHT="1")
    doomed = start_worker(slow, tmp_path, name="doomed@localhost")
    assert json.loads(submit(env, "kill").stdout)["created"] == 3
    running = wait_for(lambda: [j for j in jobs(pg_url) if j.status == JobStatus.running], 30, "a job running")
    doomed.kill()  # SIGKILL mid-job; its message stays unacknowledged in Redis for an hour
    killed_at = time.monotonic()
    rescuer = start_worker(env, tmp_path, name="rescuer@localhost")
    try:
        victim = running[0].id
        wait_for(lambda: next(j for j in jobs(pg_url) if j.id == victim).status == JobStatus.succeeded,
                 LEASE + 2 * SWEEP_EVERY + 30, "the killed worker's job, finished by the other")
        # A lease to expire and a sweep to find it (the rescuer's start-up counted in the slack).
        assert time.monotonic() - killed_at <= LEASE + 2 * SWEEP_EVERY + 30
        wait_for(lambda: statuses(pg_url)["succeeded"] == 3, 60, "the rest")
    finally:
        rescuer.stop()
    done = next(j for j in jobs(pg_url) if j.id == victim)
    assert done.attempts == 2 and done.worker.startswith("rescuer@")
    assert successes(rescuer)[str(victim)] == 1


def test_a_poison_message_does_not_stop_the_worker(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "poison", 2)
    worker = start_worker(env, tmp_path)
    try:
        client = redis.Redis(db=REDIS_DB)
        client.lpush("gpu", b"this is not json")
        client.lpush("gpu", json.dumps({"body": "!!!", "headers": {}, "content-type": "application/json",
                                        "properties": {"body_encoding": "base64", "delivery_tag": "x"}}))
        worker.wait_for_output("dropped an undecodable broker message", timeout=30)
        assert json.loads(submit(env, "poison").stdout)["created"] == 2
        wait_for(lambda: statuses(pg_url)["succeeded"] == 2, 60, "the jobs after the poison")
        assert worker.proc.poll() is None
    finally:
        worker.stop()


def test_a_source_replaced_after_submit_fails_as_changed(env: dict, s3, pg_url: str, tmp_path: Path) -> None:
    put_images(s3, "changed", 2)
    assert json.loads(submit(env, "changed").stdout)["created"] == 2
    s3.put_object(Bucket=BUCKET, Key="changed/00.png", Body=encode(texture(8, 8, seed=99), "png"))
    worker = start_worker(env, tmp_path)
    try:
        wait_for(lambda: statuses(pg_url)["queued"] == 0 and statuses(pg_url)["running"] == 0, 60, "both jobs ended")
    finally:
        worker.stop()
    by_source = {j.source_uri.rsplit("/", 1)[1]: j for j in jobs(pg_url)}
    assert by_source["00.png"].status == JobStatus.failed and by_source["00.png"].error_code == "source_changed"
    assert by_source["01.png"].status == JobStatus.succeeded
    again = json.loads(submit(env, "changed").stdout)  # the new version is a new job
    assert again["created"] == 1
