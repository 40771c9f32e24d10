"""A worker SIGKILLed while it writes a material set leaves no part of it, whatever comes next.

Real services: PostgreSQL, Redis, moto S3, and ``upscaler worker`` processes. The first worker is
killed as soon as the job's first set file exists; then either the source is replaced (the
redelivered job fails with ``source_changed`` in the second worker) or the job has no attempt
left (the second worker's sweeper fails it with ``attempts_exhausted``). Either way nothing of
the job stays under the output prefix: sets are staged under the job's id and promoted whole,
and a failed job's leftovers are deleted by the worker that failed it or by the sweeper.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import run_cli, service_env, start_worker, wait_for
from tests.textures import texture
from upscaler.imageio import encode

SWEEP_EVERY, LEASE = 1, 3


def the_job(pg_url: str) -> Job:
    with Session(create_engine(pg_url)) as session:
        (job,) = session.scalars(select(Job))
        return job


def outputs(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", []))


@pytest.mark.parametrize("then", ["source_changed", "attempts_exhausted"])
def test_a_worker_killed_while_writing_a_set_leaves_nothing(then: str, pg_url: str, redis_url: str, s3,
                                                            s3_endpoint: str, isolated_data_dir: Path,
                                                            tmp_path: Path) -> None:
    bucket = f"partial-{then.replace('_', '-')}"  # its own: moto lives for the whole session
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/oak.png", Body=encode(texture(384, 384, seed=1), "png"))
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1", sweep_every=str(SWEEP_EVERY), requeue_after="2",
                      job_lease_seconds=str(LEASE), max_attempts="1" if then == "attempts_exhausted" else "5")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    submitted = run_cli(["submit", f"s3://{bucket}/in/", "--output", f"s3://{bucket}/out/", "--maps", "all",
                         "--json"], env)
    assert submitted.returncode == 0, submitted.stderr
    assert json.loads(submitted.stdout)["created"] == 1

    first = start_worker(env, tmp_path, name="first@localhost")
    try:
        wait_for(lambda: outputs(s3, bucket), 120, "the first file of the set", interval=0.02)
    finally:
        first.kill()
        first.stop()
    assert the_job(pg_url).status == JobStatus.running
    if then == "source_changed":
        s3.put_object(Bucket=bucket, Key="in/oak.png", Body=encode(texture(384, 384, seed=2), "png"))

    second = start_worker(env, tmp_path, name="second@localhost")
    try:
        wait_for(lambda: the_job(pg_url).status == JobStatus.failed, 120, "the job to fail")
        wait_for(lambda: not outputs(s3, bucket), 30, "its leftovers to go")
    finally:
        second.stop()
    job = the_job(pg_url)
    assert job.error_code == then, job.error_message
    assert outputs(s3, bucket) == []
