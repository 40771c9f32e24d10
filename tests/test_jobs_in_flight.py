"""Several jobs in flight in one worker: one on the device at a time, the rest downloading,
decoding, encoding and uploading meanwhile; time limits kept by run_job itself."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select, update

from db.migrate import upgrade
from db.models import Job, JobStatus
from db.session import session_scope
from tests.services import run_cli, service_env, start_worker, wait_for
from tests.support import texture
from upscaler.engine.engine import waiting_for
from upscaler.imageio import encode
from upscaler.settings import get_settings
from upscaler.storage import Storage
from workers.core.jobs import Outcome, run_job
from workers.core.runtime import NoopEngine

STAGE_SECONDS = 0.15


class SlowStorage(Storage):
    """Local files, with the latency of a remote store on every read and write."""

    def get(self, uri: str, max_bytes: int, if_match: str | None = None) -> bytes:
        time.sleep(STAGE_SECONDS)
        return super().get(uri, max_bytes, if_match)

    @contextmanager
    def open_write(self, uri: str, metadata=None, **kwargs):
        with super().open_write(uri, metadata, **kwargs) as out:
            yield out
            time.sleep(STAGE_SECONDS)  # the last part's round trip


class RecordingEngine(NoopEngine):
    """The no-op engine, recording when each image held the device."""

    def __init__(self, seconds: float, progress_calls: int = 1) -> None:
        super().__init__(0)
        self.seconds, self.progress_calls = seconds, progress_calls
        self.intervals: list[tuple[float, float]] = []
        self._record = threading.Lock()

    def upscale(self, pixels, options, progress=None, timings=None):
        with waiting_for(self.device_turn(), timings):
            start = time.monotonic()
            for done in range(1, self.progress_calls + 1):
                time.sleep(self.seconds / self.progress_calls)
                if progress:
                    progress(done, self.progress_calls)
            out = super().upscale(pixels, options)
            with self._record:
                self.intervals.append((start, time.monotonic()))
            return out


@pytest.fixture
def local_jobs(tmp_path: Path, monkeypatch):
    """A SQLite database and a folder of images; yields a function that creates a batch."""
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("UPSCALER_DATABASE_URL", raising=False)
    monkeypatch.delenv("UPSCALER_BROKER_URL", raising=False)
    get_settings.cache_clear()
    upgrade()
    src = tmp_path / "in"
    src.mkdir()

    def make(count: int) -> list:
        from producer.submit import create_batch

        for i in range(count):
            cv2.imwrite(str(src / f"{i:02d}.png"), texture(8, 8, seed=i))
        return create_batch([str(src)], str(tmp_path / "out"), model="realesr-animevideov3").job_ids

    yield make
    get_settings.cache_clear()


def test_jobs_overlap_around_one_device(local_jobs, tmp_path: Path) -> None:
    job_ids = local_jobs(6)
    engine, storage = RecordingEngine(STAGE_SECONDS), SlowStorage()
    start = time.monotonic()
    with ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(lambda j: run_job(j, engine, storage, "w1").outcome, job_ids))
    wall = time.monotonic() - start

    assert outcomes == [Outcome.succeeded] * 6
    # The device ran one image at a time...
    intervals = sorted(engine.intervals)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(intervals, intervals[1:]))
    # ...while downloads and uploads of the others went on: one after another, each job's three
    # stages (download, infer, upload) would take 6 x 3 x 0.15 = 2.7 s.
    assert wall < 0.7 * 6 * 3 * STAGE_SECONDS, wall
    with session_scope() as session:
        jobs = list(session.scalars(select(Job)))
    assert all(j.status == JobStatus.succeeded and j.attempts == 1 for j in jobs)
    assert sum(j.infer_ms for j in jobs) >= 6 * STAGE_SECONDS * 1000 * 0.9
    assert max(j.wait_ms for j in jobs) > STAGE_SECONDS * 1000 / 2  # someone waited for its turn
    assert len(list((tmp_path / "out").iterdir())) == 6


def test_a_job_taken_over_while_it_ran_is_left_to_its_new_owner(local_jobs) -> None:
    """A starved worker whose lease expired finishes anyway: the delivery that took the job over
    records it, not this one (no second "succeeded")."""
    [job_id] = local_jobs(1)

    class TakenOverMidRun(RecordingEngine):
        def upscale(self, pixels, options, progress=None, timings=None):
            with session_scope() as session:  # what a claim after the lease expired does
                session.execute(update(Job).where(Job.id == job_id).values(worker="rescuer", attempts=2))
            return super().upscale(pixels, options, progress, timings)

    assert run_job(job_id, TakenOverMidRun(0.01), Storage(), "starved").outcome == Outcome.skipped
    with session_scope() as session:
        job = session.get(Job, job_id)
    assert job.status == JobStatus.running and job.worker == "rescuer" and job.infer_ms is None


def test_soft_time_limit_fails_the_job_between_tile_batches(local_jobs, tmp_path: Path, monkeypatch) -> None:
    [job_id] = local_jobs(1)
    monkeypatch.setenv("UPSCALER_JOB_SOFT_TIME_LIMIT", "1")
    get_settings.cache_clear()
    engine = RecordingEngine(3.0, progress_calls=30)  # 30 "tile batches" of 0.1 s
    start = time.monotonic()
    assert run_job(job_id, engine, Storage(), "w1").outcome == Outcome.failed
    assert time.monotonic() - start < 2.0  # stopped at the first check past the limit, not after 3 s
    with session_scope() as session:
        job = session.get(Job, job_id)
    assert job.status == JobStatus.failed and job.error_code == "timeout"
    assert "time limit of 1 s" in job.error_message
    assert not (tmp_path / "out").exists()  # nothing written


def test_worker_with_a_job_stuck_past_the_hard_limit_exits(tmp_path: Path, pg_url: str, redis_url: str,
                                                          isolated_data_dir: Path) -> None:
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, engine_noop="1",
                      engine_noop_delay_ms="20000", job_soft_time_limit="5", job_time_limit="6", metrics_port="0")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    src = tmp_path / "stuck"
    src.mkdir()
    cv2.imwrite(str(src / "a.png"), texture(8, 8))
    worker = start_worker(env, tmp_path)
    try:
        submitted = run_cli(["submit", str(src), "--output", str(tmp_path / "out"), "--json"], env)
        assert submitted.returncode == 0, submitted.stderr
        # The no-op engine's sleep never checks the soft limit (as a hung native call would not):
        # the lease keeper fails the job at 6 s and ends the process for its supervisor to restart.
        # The soft limit leaves 5 s before the network starts: a loaded machine may take seconds
        # to decode and claim, and a soft timeout there would be another test's subject.
        assert wait_for(lambda: worker.proc.poll(), 60, "the worker to exit") == 70
    finally:
        worker.stop()
    with session_scope(pg_url) as session:
        job = session.scalars(select(Job)).one()
    assert job.status == JobStatus.failed and job.error_code == "timeout"
    assert "hard time limit of 6 s" in job.error_message
    assert "past the hard time limit" in worker.output()


def test_gpu_worker_runs_jobs_in_flight_on_threads(tmp_path: Path, pg_url: str, redis_url: str, s3,
                                                   s3_endpoint: str, isolated_data_dir: Path) -> None:
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1", engine_noop_delay_ms="300", metrics_port="0")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    s3.create_bucket(Bucket="flight")
    for i in range(6):
        s3.put_object(Bucket="flight", Key=f"in/{i}.png", Body=encode(texture(8, 8, seed=i), "png"))
    worker = start_worker(env, tmp_path)
    try:
        assert "concurrency: 3 (thread)" in worker.output()
        assert run_cli(["submit", "s3://flight/in/", "--output", "s3://flight/out/", "--wait", "--json"],
                       env).returncode == 0
    finally:
        worker.stop()
    with session_scope(pg_url) as session:
        jobs = sorted(session.scalars(select(Job)), key=lambda j: j.started_at)
    assert all(j.status == JobStatus.succeeded for j in jobs)
    # Jobs were in the worker at the same time, and queued for the one device.
    assert any(b.started_at < a.finished_at for a, b in zip(jobs, jobs[1:]))
    assert sum(1 for j in jobs if j.wait_ms >= 100) >= 2
