"""``upscaler submit --wait`` against a real broker and worker: the exit status says whether every
job succeeded, and Ctrl-C stops the waiting at once, saying that the workers go on and how to
follow or cancel the batch."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from cli.checks import EXIT_FAILED, EXIT_INTERRUPTED
from tests.services import BIN, run_cli, service_env, start_worker, wait_for
from tests.textures import texture
from upscaler.imageio import encode

BUCKET = "waiting"


@pytest.fixture
def env(pg_url: str, redis_url: str, s3, s3_endpoint: str, isolated_data_dir: Path) -> dict:
    s3.create_bucket(Bucket=BUCKET)
    environment = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url,
                              s3_endpoint_url=s3_endpoint, engine_noop="1")
    assert run_cli(["db", "upgrade"], environment).returncode == 0
    return environment


def put_images(s3, prefix: str, count: int, broken: int = 0) -> None:
    for i in range(count):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{i:02d}.png", Body=encode(texture(8, 8, seed=i), "png"))
    for i in range(broken):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/broken-{i}.png", Body=b"not a png")


def submit_args(prefix: str) -> list[str]:
    return ["submit", f"s3://{BUCKET}/{prefix}/", "--output", f"s3://{BUCKET}/out/{prefix}/", "--wait"]


def test_wait_exits_1_when_a_job_failed_and_0_when_none_did(env: dict, s3, tmp_path: Path) -> None:
    put_images(s3, "mixed", 3, broken=1)
    put_images(s3, "clean", 2)
    worker = start_worker(env, tmp_path)
    try:
        mixed = run_cli(submit_args("mixed"), env)
        clean = run_cli(submit_args("clean"), env)
    finally:
        worker.stop()
    assert mixed.returncode == EXIT_FAILED, mixed.stderr
    assert "3 succeeded, 1 failed" in mixed.stderr and "broken-0.png: [invalid_image]" in mixed.stderr
    assert clean.returncode == 0, clean.stderr


def test_ctrl_c_stops_waiting_at_once_and_the_workers_go_on(env: dict, s3, tmp_path: Path) -> None:
    put_images(s3, "slow", 4)
    # 5 s a job, one at a time: the three left take 15 s, so stopping within 10 s is the interrupt's
    # doing (10 s, not less: on a loaded machine the summary read and the exit take seconds).
    worker = start_worker(dict(env, UPSCALER_ENGINE_NOOP_DELAY_MS="5000", UPSCALER_WORKER_JOBS_IN_FLIGHT="1"),
                          tmp_path)
    try:
        waiting = subprocess.Popen([str(BIN / "upscaler"), *submit_args("slow")], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for(lambda: "succeeded" in worker.output(), 60, "a job of the batch done")
        waiting.send_signal(signal.SIGINT)
        interrupted = time.monotonic()
        _, stderr = waiting.communicate(timeout=30)
        assert time.monotonic() - interrupted < 10, "Ctrl-C did not stop the waiting at once"
        assert waiting.returncode == EXIT_INTERRUPTED, stderr
        assert "stopped waiting: batch" in stderr and "goes on on the workers" in stderr
        batch = stderr.split("stopped waiting: batch ")[1].split()[0]
        assert f"`upscaler status {batch}`" in stderr and f"`upscaler cancel {batch}`" in stderr
        wait_for(lambda: run_cli(["status", batch], env).stderr.count("4 succeeded") == 1, 90, "the batch, finished")
    finally:
        worker.stop()
