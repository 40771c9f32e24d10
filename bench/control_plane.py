"""The control plane at catalogue scale: intake, recovery and status with 10^3 to 10^6 jobs.

No inference runs: each operation is the command an operator types (`upscaler submit`,
`upscaler watch scan`, `upscaler status`), run as its own process against PostgreSQL (a
throwaway schema in database `test`), Redis and moto's S3 server, timed, with its peak resident
memory (VmHWM, read from /proc while it runs). Sources are put straight into moto's store and
the 1M-job batch and the nightly scan's earlier jobs are written by bulk SQL: building them is
not what is measured.

    .venv/bin/python bench/control_plane.py                     # 1k, 10k, 100k; status on 1M jobs
    .venv/bin/python bench/control_plane.py --sizes 1000 --status-jobs 10000 --no-write   # a quick look

Redis database 12 is used and flushed (``UPSCALER_BENCH_REDIS_DB`` picks another); no worker may
consume from it meanwhile.

Measured, per size: manifest submit (a CSV of S3 URIs, 1000 per folder) and its resubmit (creates
nothing); folder submit (local files); then, for the largest folder batch, the broker flushed with
every job queued and sweeps run until every job has a message again; a nightly scan of the
largest size with 1% new images (announced by S3 events to the watch's SQS queue), and the
same inbox listed in full; `status BATCH` on the status batch and `status` alone.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3
import redis
from sqlalchemy import create_engine, text

from tests.services import BIN, create_pg_schema, drop_pg_schema, free_port, service_env

BUCKET = "bench"
PER_FOLDER = 1000          # images per S3 folder or local folder, as suppliers' catalogues come
REDIS_DB = int(os.environ.get("UPSCALER_BENCH_REDIS_DB", "12"))


def run(args: list[str], env: dict[str, str]) -> tuple[float, float, float, dict | list]:
    """Run ``upscaler ARGS --json``: wall seconds, peak resident MB, CPU seconds (user + system:
    the command's own work, less swayed than the wall clock by what else the machine runs), its JSON."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen([str(BIN / "upscaler"), *args, "--json"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = 0
    status = Path(f"/proc/{process.pid}/status")
    while process.poll() is None:
        try:
            peak = max(peak, int(re.search(r"VmHWM:\s+(\d+)", status.read_text()).group(1)))
        except (OSError, AttributeError):
            pass
        time.sleep(0.05)
    out, err = process.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if process.returncode != 0:
        raise RuntimeError(f"upscaler {' '.join(args)} exited {process.returncode}: {err[-2000:]}")
    return seconds, peak / 1024, cpu, json.loads(out)


def receive_in_constant_time() -> None:
    """moto's SQS checks each message it hands out against the queue's retention period by
    computing every attribute of the queue, ApproximateNumberOfMessages included, which walks
    every message: O(queue) per message received, so draining 1000 S3 events took ~100 s of
    moto's time (one receive ~1 s), where SQS answers a receive in milliseconds whatever the queue
    holds. The same check, reading the one attribute it needs: the drain is then timed, not moto."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    def within_retention(self, queue_name: str, message) -> bool:
        return self.get_queue(queue_name).message_retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = within_retention


def put_objects(keys: list[str]) -> dict[str, str]:
    """Objects straight into moto's store (each a few bytes); key -> ETag."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    etags = {}
    for key in keys:
        body = key.encode()
        backend.put_object(BUCKET, key, body)
        etags[key] = hashlib.md5(body).hexdigest()
    return etags


def image_keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}/folder{i // PER_FOLDER:04d}/img{i:07d}.png" for i in range(count)]


def manifest_submit(size: int, env: dict, work: Path) -> dict:
    keys = image_keys(f"manifest{size}", size)
    put_objects(keys)
    manifest = work / f"manifest{size}.csv"
    manifest.write_text("source_uri\n" + "".join(f"s3://{BUCKET}/{k}\n" for k in keys))
    output = f"s3://{BUCKET}/out-manifest{size}/"
    seconds, peak, cpu, report = run(["submit", "--manifest", str(manifest), "--output", output], env)
    assert report["created"] == size, report
    again, again_peak, again_cpu, second = run(["submit", "--manifest", str(manifest), "--output", output], env)
    assert second["created"] == 0 and second["duplicates"] == size, second
    return {"submit_s": seconds, "submit_mb": peak, "submit_cpu": cpu, "resubmit_s": again,
            "resubmit_mb": again_peak, "resubmit_cpu": again_cpu}


def folder_submit(size: int, env: dict, work: Path) -> tuple[dict, str]:
    folder = work / f"folder{size}"
    for i in range(size):
        path = folder / f"folder{i // PER_FOLDER:04d}" / f"img{i:07d}.png"
        if i % PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    seconds, peak, cpu, report = run(["submit", str(folder), "--output", str(work / f"out-folder{size}")], env)
    assert report["created"] == size, report
    return {"folder_s": seconds, "folder_mb": peak, "folder_cpu": cpu}, report["batch_id"]


def flush_and_recover(batch_id: str, env: dict, pg_url: str, sweep_every: int) -> dict:
    """Every other batch finished; this one's messages all lost; sweeps until each job has one again."""
    os.environ.update({k: v for k, v in env.items() if k.startswith("UPSCALER_")})
    from upscaler.settings import get_settings

    get_settings.cache_clear()
    from workers.core.sweeper import sweep

    engine = create_engine(pg_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE jobs SET status = 'succeeded' WHERE batch_id != :b AND status = 'queued'"),
                           {"b": batch_id})
        # Sent long enough ago that the sweeper may judge them lost (UPSCALER_REQUEUE_AFTER).
        connection.execute(text("UPDATE jobs SET enqueued_at = now() - interval '1 hour' WHERE batch_id = :b"),
                           {"b": batch_id})
        queued = connection.execute(text("SELECT count(*) FROM jobs WHERE status = 'queued'")).scalar()
    broker = redis.Redis(db=REDIS_DB)
    broker.flushdb()
    passes, flushed_before = [], time.time()
    while True:
        start = time.perf_counter()
        result = sweep(_celery())
        passes.append((time.perf_counter() - start, result.resent_lost))
        with engine.connect() as connection:
            left = connection.execute(text(
                "SELECT count(*) FROM jobs WHERE status = 'queued' AND enqueued_at < to_timestamp(:t)"),
                {"t": flushed_before}).scalar()
        if left == 0 or len(passes) >= 5:
            break
    return {"queued": queued, "passes": passes, "left": left, "messages": broker.llen("gpu"),
            "periods": sum(1 for _ in passes), "sweep_every": sweep_every}


def nightly(size: int, env: dict, pg_url: str, endpoint: str) -> dict:
    """An inbox of ``size`` images of which 1% arrived since last night. Its bucket sends its
    ObjectCreated events to an SQS queue that the watch names (``--events-queue``), and last
    night's full listing took the rest: the night drains the queue. Then the weekly net: the
    same inbox listed in full (``watch scan --full``), which finds nothing new."""
    keys = image_keys("inbox", size)
    new = keys[:: 100]
    earlier = set(keys) - set(new)
    etags = put_objects([k for k in keys if k in earlier])
    os.environ.update({k: v for k, v in env.items() if k.startswith("UPSCALER_")})
    from upscaler.settings import get_settings

    get_settings.cache_clear()
    from producer.intake import add_watch
    from upscaler.jobspec import JobRequest

    sqs = boto3.client("sqs", endpoint_url=endpoint)
    queue_url = sqs.create_queue(QueueName="inbox-uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("s3", endpoint_url=endpoint).put_bucket_notification_configuration(
        Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}}}]})
    put_objects(new)  # today's arrivals: one event each in the queue
    watch = add_watch("inbox", f"s3://{BUCKET}/inbox/", f"s3://{BUCKET}/inbox-out/", JobRequest(),
                      events_queue=queue_url)
    engine = create_engine(pg_url)
    with engine.begin() as connection:  # last night's jobs, by bulk SQL: every image but the new ones
        connection.execute(text("UPDATE watches SET listed_at = now() - interval '1 day' WHERE id = :w"),
                           {"w": watch.id})
        batch = connection.execute(text(
            "INSERT INTO batches (id, name, source, output_prefix, model, params, created_at, watch_id, intake_key) "
            "VALUES (gen_random_uuid(), 'inbox earlier', :s, :o, :m, '{}', now(), :w, 'nightly:2000-01-01') "
            "RETURNING id"), {"s": watch.source_prefix, "o": watch.output_prefix, "m": watch.model,
                              "w": watch.id}).scalar()
        rows = [{"b": batch, "u": f"s3://{BUCKET}/{k}", "e": etags[k], "k": hashlib.sha256(k.encode()).hexdigest()}
                for k in keys if k in earlier]
        connection.execute(text(
            "INSERT INTO jobs (id, batch_id, idempotency_key, source_uri, source_etag, output_uri, output_key, model, "
            "params, status, attempts, queued_at) VALUES (gen_random_uuid(), :b, :k, :u, :e, :u, :u, 'm', '{}', "
            "'succeeded', 1, now())"), rows)
    seconds, peak, cpu, report = run(["watch", "scan"], env)
    (scanned,) = report
    assert scanned["created"] == len(new) and scanned["how"] == "events", report
    full_s, full_peak, full_cpu, report = run(["watch", "scan", "--full"], env)
    (listed,) = report
    assert listed["created"] == 0 and listed["how"] == "listing", report
    return {"nightly_s": seconds, "nightly_mb": peak, "nightly_cpu": cpu, "new": len(new),
            "full_s": full_s, "full_mb": full_peak, "full_cpu": full_cpu}


def status_batch(jobs: int, env: dict, pg_url: str) -> dict:
    """A finished batch of ``jobs`` jobs by bulk SQL; `status BATCH` and `status` on it."""
    engine = create_engine(pg_url)
    with engine.begin() as connection:
        batch = connection.execute(text(
            "INSERT INTO batches (id, name, source, output_prefix, model, params, created_at) VALUES "
            "(gen_random_uuid(), 'million', 's3://bench/million/', 's3://bench/million-out/', 'm', '{}', now()) "
            "RETURNING id")).scalar()
        connection.execute(text(
            "INSERT INTO jobs (id, batch_id, idempotency_key, source_uri, output_uri, output_key, model, params, "
            "status, attempts, queued_at, started_at, finished_at, download_ms, decode_ms, wait_ms, infer_ms, "
            "encode_ms, upload_ms, error_code, error_message) "
            "SELECT gen_random_uuid(), CAST(:b AS uuid), md5(:b || i::text), 's3://bench/million/' || i || '.png', "
            "'s3://bench/million-out/' || i || '.png', 's3://bench/million-out/' || i || '.png', 'm', '{}', "
            "CASE WHEN i % 1000 = 0 THEN 'failed' ELSE 'succeeded' END, 1, now(), "
            "now() + i * interval '1 ms', now() + i * interval '1 ms' + interval '2 s', "
            "20 + i % 7, 30 + i % 11, i % 5, 900 + i % 200, 40 + i % 13, 60 + i % 17, "
            "CASE WHEN i % 1000 = 0 THEN 'invalid_image' END, CASE WHEN i % 1000 = 0 THEN 'corrupt' END "
            "FROM generate_series(1, :n) AS i"), {"b": str(batch), "n": jobs})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE jobs"))
    one_s, one_mb, one_cpu, report = run(["status", str(batch)], env)
    assert report["total"] == jobs, report
    all_s, all_mb, all_cpu, _ = run(["status"], env)
    return {"status_s": one_s, "status_mb": one_mb, "status_cpu": one_cpu, "status_all_s": all_s,
            "status_all_mb": all_mb, "status_all_cpu": all_cpu, "jobs": jobs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="intake sizes, comma-separated")
    parser.add_argument("--status-jobs", type=int, default=1_000_000, help="jobs in the batch `status` reads")
    parser.add_argument("--no-write", action="store_true", help="print, leave bench/RESULTS.md alone")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    receive_in_constant_time()

    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(key, value)
    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    schema, pg_url = create_pg_schema("bench_control")
    redis.Redis(db=REDIS_DB).flushdb()
    work = Path(tempfile.mkdtemp(prefix="upscaler-control-"))
    env = service_env(work / "state", database_url=pg_url, broker_url=f"redis://127.0.0.1:6379/{REDIS_DB}",
                      s3_endpoint_url=endpoint)
    sweep_every = 60
    results: dict = {"sizes": {}, "load": [os.getloadavg()[1]]}
    try:
        from db.migrate import upgrade

        upgrade(pg_url)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        batch_id = None
        for size in sizes:
            row = manifest_submit(size, env, work)
            folder, batch_id = folder_submit(size, env, work)
            results["sizes"][size] = row | folder
            print(size, results["sizes"][size], flush=True)
        results["recovery"] = flush_and_recover(batch_id, env, pg_url, sweep_every)
        print(results["recovery"], flush=True)
        results["nightly"] = nightly(sizes[-1], env, pg_url, endpoint)
        print(results["nightly"], flush=True)
        results["status"] = status_batch(args.status_jobs, env, pg_url)
        print(results["status"], flush=True)
        results["load"].append(os.getloadavg()[1])
    finally:
        moto.stop()
        drop_pg_schema(schema, pg_url)
        redis.Redis(db=REDIS_DB).flushdb()
    if not args.no_write:
        write(results, sizes)


def write(results: dict, sizes: list[int]) -> None:
    from bench.common import write_section

    rows = "\n".join(
        f"| {size:,} | {r['submit_s']:.1f} s ({r['submit_cpu']:.1f} s CPU), {r['submit_mb']:.0f} MB | "
        f"{r['resubmit_s']:.1f} s ({r['resubmit_cpu']:.1f} s CPU) | "
        f"{r['folder_s']:.1f} s ({r['folder_cpu']:.1f} s CPU), {r['folder_mb']:.0f} MB |"
        for size, r in results["sizes"].items())
    recovery, nightly, status = results["recovery"], results["nightly"], results["status"]
    passes = ", ".join(f"{seconds:.1f} s ({sent:,} sent)" for seconds, sent in recovery["passes"])
    body = f"""
PostgreSQL, Redis and moto's S3 and SQS server on this machine (moto's SQS receive made to read the
queue's retention period directly, not through every queue attribute, each O(queue): see
`receive_in_constant_time`), shared with other work while it ran (load
average over 5 minutes {results['load'][0]:.1f} at the start, {results['load'][-1]:.1f} at the end, on 2 cores);
no inference. Each number is one run of the command as an operator types it, as its own process:
seconds of wall clock, the command's own CPU seconds (user + system; the servers' work is in the
wall clock only), MB of its peak resident memory.

| sources | `submit --manifest` (S3, 1000 per folder) | resubmit (creates nothing) | `submit FOLDER` (local) |
| --- | --- | --- | --- |
{rows}

- Broker flushed with {recovery['queued']:,} jobs queued (all sent over an hour before): sweep passes
  {passes}; jobs left without a message: {recovery['left']:,}; messages in Redis after: {recovery['messages']:,}
  (a sweep runs every {recovery['sweep_every']} s by default).
- Nightly scan of {sizes[-1]:,} images with {nightly['new']:,} new, the watch's event queue drained:
  {nightly['nightly_s']:.1f} s ({nightly['nightly_cpu']:.1f} s CPU), {nightly['nightly_mb']:.0f} MB; its full listing (the
  weekly net, `watch scan --full`, nothing new): {nightly['full_s']:.1f} s ({nightly['full_cpu']:.1f} s CPU), {nightly['full_mb']:.0f} MB.
- `status BATCH` on a batch of {status['jobs']:,} finished jobs: {status['status_s']:.2f} s
  ({status['status_cpu']:.2f} s CPU), {status['status_mb']:.0f} MB; `status` (recent batches, that one
  among them): {status['status_all_s']:.2f} s ({status['status_all_cpu']:.2f} s CPU), {status['status_all_mb']:.0f} MB.

Command: `.venv/bin/python bench/control_plane.py`
"""
    write_section("Control plane at catalogue scale", body)


if __name__ == "__main__":
    main()


def _celery():
    """The dispatcher a worker's sweeper sends with: the Celery app on the configured broker."""
    from upscaler.settings import get_settings
    from workers.core.celery_app import create_app
    from workers.core.dispatch import CeleryDispatcher

    return CeleryDispatcher(create_app(get_settings()))
