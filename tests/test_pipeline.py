"""The job pipeline for real: moto S3 over HTTP, Redis, PostgreSQL, `upscaler worker` and
`upscaler flower` as separate processes, `upscaler submit --wait` as an operator runs it."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Batch, Job, JobStatus
from tests.services import BIN, Process, free_port, run_cli, service_env, start_worker, wait_for
from tests.support import texture
from upscaler.imageio import encode

COMPACT = "realesr-animevideov3"
BUCKET = "supplier-bucket"


def catalogue() -> dict[str, bytes]:
    """Twelve supplier files (ten images of every kind, two bad ones) and one non-image."""
    rgba = np.dstack([texture(20, 28, seed=9), np.full((20, 28), 128, np.uint8)])
    good = {
        "catalogue-2026/oak.jpg": encode(texture(40, 48, seed=1), "jpeg"),
        "catalogue-2026/tiles/slate.png": encode(texture(36, 36, seed=2), "png"),
        "catalogue-2026/tiles/marble.webp": encode(texture(30, 30, seed=3), "webp"),
        "catalogue-2026/fabric/linen weave.jpg": encode(texture(24, 32, seed=4), "jpeg"),
        "catalogue-2026/carpet/wool.png": encode(texture(50, 64, seed=5), "png"),
        "catalogue-2026/metal/brushed.tif": encode(texture(32, 32, seed=6), "tiff"),
        "catalogue-2026/glass/frosted.jpg": encode(texture(24, 24, seed=7), "jpeg"),
        "catalogue-2026/stone/gray.png": encode(texture(28, 28, channels=1, seed=8), "png"),
        "catalogue-2026/wallpaper/cutout.png": encode(rgba, "png"),
        "catalogue-2026/wood/deep.png": encode(texture(26, 26, seed=10, dtype=np.uint16), "png"),
    }
    bad = {
        "catalogue-2026/broken.png": encode(texture(40, 40, seed=11), "png")[:300],
        "catalogue-2026/error-page.jpg": b"<html><body>403 Forbidden</body></html>",
    }
    return {**good, **bad, "catalogue-2026/readme.txt": b"not an image"}


@pytest.fixture
def stack(tmp_path: Path, pg_url: str, redis_url: str, s3, s3_endpoint: str, isolated_data_dir: Path):
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      flower_basic_auth="operator:s3cret")
    migrated = run_cli(["db", "upgrade"], env)
    assert migrated.returncode == 0, migrated.stderr
    s3.create_bucket(Bucket=BUCKET)
    for key, data in catalogue().items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    processes: list[Process] = []
    yield env, processes
    for process in processes:
        process.stop()


def test_catalogue_from_s3_through_celery_workers(stack, s3, pg_url: str, tmp_path: Path) -> None:
    env, processes = stack
    flower_port = free_port()

    flower = Process([str(BIN / "upscaler"), "flower", "--port", str(flower_port)], env, tmp_path / "flower.log")
    processes.append(flower)
    processes.append(start_worker(env, tmp_path))
    flower.wait_for_output("Visit me", timeout=60)

    submitted = run_cli(["submit", f"s3://{BUCKET}/catalogue-2026/", "--output", f"s3://{BUCKET}/out/",
                         "--model", COMPACT, "--wait", "--json"], env)
    assert submitted.returncode == 1, submitted.stderr  # two jobs failed: --wait says so in its status
    report = json.loads(submitted.stdout)
    assert report["created"] == 12 and report["duplicates"] == 0
    assert report["skipped"] == [f"s3://{BUCKET}/catalogue-2026/readme.txt"]
    assert report["summary"]["counts"] == {"queued": 0, "running": 0, "succeeded": 10, "failed": 2, "cancelled": 0}

    # Every good image is in S3, 4x, in its own format and layout, with its metadata.
    sources = catalogue()
    engine = create_engine(pg_url)
    with Session(engine) as session:
        jobs = {j.source_uri.removeprefix(f"s3://{BUCKET}/"): j for j in session.scalars(select(Job))}
        batch = session.scalars(select(Batch)).one()
    assert len(jobs) == 12 and str(batch.id) == report["batch_id"]
    expected_ext = {".jpg": ".jpg", ".png": ".png", ".webp": ".webp", ".tif": ".tif"}
    for key, job in jobs.items():
        if job.status != JobStatus.succeeded:
            continue
        stem, ext = key.rsplit(".", 1)
        out_key = "out/" + stem.removeprefix("catalogue-2026/") + expected_ext["." + ext]
        assert job.output_uri == f"s3://{BUCKET}/{out_key}"
        obj = s3.get_object(Bucket=BUCKET, Key=out_key)
        metadata = obj["Metadata"]
        assert metadata.pop("color-space").startswith(("sRGB", "Gray")), key  # the output's colour, tagged
        assert metadata == {"job-id": str(job.id), "model": COMPACT, "source-etag": job.source_etag}
        assert obj["ContentType"].startswith("image/")
        output = cv2.imdecode(np.frombuffer(obj["Body"].read(), np.uint8), cv2.IMREAD_UNCHANGED)
        source = cv2.imdecode(np.frombuffer(sources[key], np.uint8), cv2.IMREAD_UNCHANGED)
        assert output.shape[:2] == (source.shape[0] * 4, source.shape[1] * 4), key
        assert output.ndim == source.ndim and output.dtype == source.dtype, key  # gray, RGBA, 16-bit kept
        assert (job.input_width, job.input_height) == (source.shape[1], source.shape[0])
        assert (job.output_width, job.output_height) == (source.shape[1] * 4, source.shape[0] * 4)
        assert job.attempts == 1 and job.worker and job.error_code is None
        assert job.started_at >= job.queued_at and job.finished_at >= job.started_at
        assert all(getattr(job, f"{stage}_ms") is not None for stage in ("download", "decode", "wait", "infer", "encode", "upload"))

    # The bad ones failed with a clear reason and did not stop the batch.
    broken, html = jobs["catalogue-2026/broken.png"], jobs["catalogue-2026/error-page.jpg"]
    assert broken.status == html.status == JobStatus.failed
    assert broken.error_code == html.error_code == "invalid_image"
    assert "broken.png" in broken.error_message and "truncated PNG" in broken.error_message
    assert "not a recognised raster image" in html.error_message
    assert broken.attempts == 1 and broken.finished_at is not None
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")
    assert listed["KeyCount"] == 10

    # Submitting the same prefix again creates no new work.
    again = run_cli(["submit", f"s3://{BUCKET}/catalogue-2026/", "--output", f"s3://{BUCKET}/out/",
                     "--model", COMPACT, "--json"], env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) | {"skipped": None} == {"batch_id": None, "created": 0, "duplicates": 12,
                                                            "repeated": 0, "collisions": 0, "resent": 0, "warnings": [],
                                                            "skipped": None, "dry_run": False, "refused": [],
                                                            "empty_sources": []}

    # `upscaler status` tells the same story, failures with reasons.
    status = json.loads(run_cli(["status", report["batch_id"], "--json"], env).stdout)
    assert status["counts"]["succeeded"] == 10 and len(status["failures"]) == 2
    assert {f["error_code"] for f in status["failures"]} == {"invalid_image"}

    # Flower, on the same Redis, shows the worker and the finished tasks, with basic auth only.
    base = f"http://127.0.0.1:{flower_port}"
    assert requests.get(f"{base}/api/workers", timeout=10).status_code == 401
    assert requests.get(f"{base}/api/workers", auth=("operator", "wrong"), timeout=10).status_code == 401

    def tasks_seen():
        response = requests.get(f"{base}/api/tasks", auth=("operator", "s3cret"), timeout=10)
        tasks = response.json() if response.ok else {}
        done = [t for t in tasks.values() if t.get("state") == "SUCCESS"]
        return tasks if len(done) >= 12 else None

    tasks = wait_for(tasks_seen, 30, "12 finished tasks in Flower")
    assert {t["name"] for t in tasks.values()} == {"upscaler.upscale_job"}
    assert {json.loads(t["args"].replace("'", '"'))[0] for t in tasks.values()} == {str(j.id) for j in jobs.values()}
    workers = requests.get(f"{base}/api/workers?refresh=1", auth=("operator", "s3cret"), timeout=30).json()
    assert any(name.startswith("test-") for name in workers), workers
