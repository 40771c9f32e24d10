"""Per-job overhead of the queue + SQL + S3 path against the engine alone, in one run.

    .venv/bin/python bench/pipeline.py [--jobs 60] [--size 64]

Real services: Redis (db 12), PostgreSQL (a throwaway schema in database `test`), moto in
server mode as the S3 endpoint, and one `upscaler worker` process; the compact model on small
images so that the overhead is visible. The engine-only loop runs the same decode, infer and
encode on the same bytes in this process. Overhead per job = median time between consecutive
job starts on the one worker (its cycle) minus the engine-only median; the jobs table's own
per-stage timings say where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import boto3
import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import write_section  # noqa: E402
from tests.conftest import texture  # noqa: E402
from tests.services import create_pg_schema, drop_pg_schema, free_port, service_env, start_worker, wait_for  # noqa: E402
from db.models import Job, JobStatus  # noqa: E402
from db.session import session_scope  # noqa: E402
from sqlalchemy import select  # noqa: E402

MODEL = "realesr-animevideov3"
REDIS_DB = 12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--size", type=int, default=64, help="input edge in pixels")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    schema, pg_url = create_pg_schema("bench")
    redis.Redis(db=REDIS_DB).flushdb()
    data_dir = Path(os.environ.get("UPSCALER_DATA_DIR", Path.home() / ".local/share/material-upscaler"))
    settings = dict(database_url=pg_url, broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}", s3_endpoint_url=endpoint)
    env = service_env(data_dir, **settings)
    os.environ.update({k: v for k, v in env.items() if k.startswith("UPSCALER_")})
    log_dir = Path("/tmp") / f"upscaler-bench-{schema}"
    log_dir.mkdir()
    worker = None
    try:
        from db.migrate import upgrade
        from upscaler.images import encode

        upgrade(pg_url)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench")
        images = {f"in/{i:04d}.png": encode(texture(args.size, args.size, seed=i), "png") for i in range(args.jobs)}
        for key, data in images.items():
            s3.put_object(Bucket="bench", Key=key, Body=data)

        # Engine alone, same bytes, same code path as the worker's (decode, infer, encode).
        from upscaler.engine import Engine
        from upscaler.jobspec import JobParams
        from upscaler.processing import OutputOptions, limits_from, process_image
        from upscaler.settings import get_settings
        from upscaler.zoo.registry import ModelZoo

        engine = Engine(ModelZoo(get_settings().models_dir), "cpu", get_settings().precision)
        options = JobParams().upscale_options(MODEL)
        limits = limits_from(get_settings())
        process_image(engine, images["in/0000.png"], "warm-up", options, OutputOptions("png"), limits)
        engine_ms = []
        for key, data in images.items():
            start = time.perf_counter()
            process_image(engine, data, key, options, OutputOptions("png"), limits)
            engine_ms.append((time.perf_counter() - start) * 1000)

        # The pipeline: one worker process, jobs created and enqueued like `upscaler submit`.
        worker = start_worker(env, log_dir)
        from producer.enqueue import enqueue
        from producer.submit import create_batch

        # One job first, so the worker's model load and calibration are not in the measurement.
        warm = create_batch(["s3://bench/in/"], "s3://bench/warm/", model=MODEL)
        enqueue(warm.job_ids[:1])
        wait_for(lambda: any(j.status == JobStatus.succeeded for j in _jobs(warm.batch_id)), 120, "warm-up job")

        def finished(batch_id) -> list[Job] | None:
            jobs = _jobs(batch_id)
            return jobs if all(j.status in (JobStatus.succeeded, JobStatus.failed) for j in jobs) else None

        start = time.perf_counter()
        result = create_batch(["s3://bench/in/"], "s3://bench/out/", model=MODEL)
        enqueue(result.job_ids)
        jobs = wait_for(lambda: finished(result.batch_id), 600, "the batch", interval=0.05)
        wall = time.perf_counter() - start
    finally:
        if worker:
            worker.stop()
        moto.stop()
        drop_pg_schema(schema, pg_url)
        redis.Redis(db=REDIS_DB).flushdb()

    assert all(j.status == JobStatus.succeeded for j in jobs), "some jobs failed"
    jobs.sort(key=lambda j: j.started_at)
    cycles = [(b.started_at - a.started_at).total_seconds() * 1000 for a, b in zip(jobs, jobs[1:])]
    gaps = [(b.started_at - a.finished_at).total_seconds() * 1000 for a, b in zip(jobs, jobs[1:])]
    in_worker = [(j.finished_at - j.started_at).total_seconds() * 1000 for j in jobs]
    stage = {s: statistics.median(getattr(j, f"{s}_ms") for j in jobs) for s in ("download", "decode", "infer", "encode", "upload")}
    engine_median = statistics.median(engine_ms)
    overhead = statistics.median(cycles) - engine_median
    engine_stages = stage["decode"] + stage["infer"] + stage["encode"]
    in_worker_other = statistics.median(in_worker) - sum(stage.values())
    lines = [
        f"{args.jobs} jobs of {args.size}x{args.size} PNG, model {MODEL}, one worker process (concurrency 1).",
        "",
        "| measure | median ms per job |",
        "|---|---|",
        f"| engine alone (decode + infer + encode, in-process loop) | {engine_median:.1f} |",
        f"| pipeline cycle (start of job N to start of job N+1 on the worker) | {statistics.median(cycles):.1f} |",
        f"| **overhead per job** (cycle - engine alone) | **{overhead:.1f}** |",
        f"| - of it: S3 download (moto over HTTP) | {stage['download']:.1f} |",
        f"| - of it: S3 upload with metadata | {stage['upload']:.1f} |",
        f"| - of it: SQL claim + succeed, bookkeeping inside the task | {in_worker_other:.1f} |",
        f"| - of it: broker gap (job N finished to job N+1 started: ack, delivery, prefetch) | {statistics.median(gaps):.1f} |",
        f"| engine stages as timed inside the worker (decode + infer + encode) | {engine_stages:.1f} |",
        "",
        f"Throughput: {args.jobs / wall:.1f} jobs/s end to end (submit to last finished, {wall:.1f} s); "
        f"engine alone {1000 / engine_median:.1f} images/s. Target: overhead <= 50 ms per job.",
    ]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Pipeline overhead per job (CPU, compact model)", body + "\n\nCommand: `.venv/bin/python bench/pipeline.py`")


def _jobs(batch_id) -> list[Job]:
    with session_scope() as session:
        return list(session.scalars(select(Job).where(Job.batch_id == batch_id)))


if __name__ == "__main__":
    main()
