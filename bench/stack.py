"""The real services a pipeline benchmark runs against, set up and torn down in one place.

Redis (database 12), PostgreSQL (a throwaway schema in database `test`), moto in server mode
as the S3 endpoint, and `upscaler worker` processes; the same helpers the tests use.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import boto3
import redis
from sqlalchemy import select

from tests.services import (
    Process,
    create_pg_schema,
    drop_pg_schema,
    free_port,
    service_env,
    start_worker,
    wait_for,
)

REDIS_DB = 12
BUCKET = "bench"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Stack:
    env: dict[str, str]
    pg_url: str
    s3: object
    log_dir: Path
    workers: list[Process] = field(default_factory=list)
    last_submit_s: float = 0.0   # listing + job rows + messages, of the last run_batch

    def start_workers(self, count: int, **settings: str) -> None:
        env = dict(self.env, **{f"UPSCALER_{k.upper()}": v for k, v in settings.items()})
        for i in range(count):
            # Each worker on its own metrics port, as one per GPU on a machine would be.
            worker_env = dict(env, UPSCALER_METRICS_PORT=str(free_port()))
            self.workers.append(start_worker(worker_env, self.log_dir, name=f"bench{len(self.workers)}@localhost"))

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        self.workers.clear()

    def upload(self, images: dict[str, bytes]) -> None:
        for key, data in images.items():
            self.s3.put_object(Bucket=BUCKET, Key=key, Body=data)

    def run_batch(self, prefix: str, output: str, model: str, timeout: float = 900) -> tuple[list, float]:
        """Submit every image under ``prefix`` like `upscaler submit`; the finished jobs and the
        seconds from submission to the last one finished."""
        from db.models import JobStatus
        from producer.submit import create_batch
        from cli.common import dispatcher

        start = time.perf_counter()
        batch = create_batch([f"s3://{BUCKET}/{prefix}"], f"s3://{BUCKET}/{output}", model=model)
        if not batch.job_ids:
            raise RuntimeError(f"no images under s3://{BUCKET}/{prefix}")
        dispatcher().jobs(batch.job_ids)
        self.last_submit_s = time.perf_counter() - start

        def finished():
            jobs = batch_jobs(batch.batch_id)
            return jobs if all(j.status in (JobStatus.succeeded, JobStatus.failed) for j in jobs) else None

        jobs = wait_for(finished, timeout, f"the batch under {prefix}", interval=0.05)
        wall = time.perf_counter() - start
        failed = [j for j in jobs if j.status != JobStatus.succeeded]
        if failed:
            raise RuntimeError(f"{len(failed)} jobs failed, e.g. {failed[0].error_code}: {failed[0].error_message}")
        return jobs, wall


def batch_jobs(batch_id) -> list:
    from db.models import Job
    from db.session import session_scope

    with session_scope() as session:
        return list(session.scalars(select(Job).where(Job.batch_id == batch_id)))


@contextmanager
def bench_stack(name: str) -> Iterator[Stack]:
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    schema, pg_url = create_pg_schema(name)
    redis.Redis(db=REDIS_DB).flushdb()
    data_dir = Path(os.environ.get("UPSCALER_DATA_DIR", Path.home() / ".local/share/material-upscaler"))
    env = service_env(data_dir, database_url=pg_url, broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}",
                      s3_endpoint_url=endpoint)
    os.environ.update({k: v for k, v in env.items() if k.startswith("UPSCALER_")})
    from upscaler.settings import get_settings

    get_settings.cache_clear()
    log_dir = Path("/tmp") / f"upscaler-bench-{schema}"
    log_dir.mkdir()
    stack = Stack(env, pg_url, boto3.client("s3", endpoint_url=endpoint), log_dir)
    try:
        from db.migrate import upgrade

        upgrade(pg_url)
        stack.s3.create_bucket(Bucket=BUCKET)
        yield stack
    finally:
        stack.stop_workers()
        moto.stop()
        drop_pg_schema(schema, pg_url)
        redis.Redis(db=REDIS_DB).flushdb()


def cpu_seconds(command_names: tuple[str, ...]) -> float:
    """CPU seconds used so far by every process whose name starts with one of ``command_names``,
    with their exited children (PostgreSQL's backends come and go under the postmaster)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        if comm.startswith(command_names):
            fields = text[text.rindex(")") + 2 :].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / CLOCK_TICKS
