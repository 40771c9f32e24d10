"""Ctrl-C under a submit that runs its jobs: a real SIGINT to a real ``upscaler submit``. The first
says what is being finished and what will be left and lets the running job finish; the second
stops at once; either way submitting the same folder again runs exactly what was left."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import cv2
import pytest

from cli.checks import EXIT_INTERRUPTED
from tests.cli_process import run_cli, start_cli
from tests.services import wait_for
from tests.textures import texture

IMAGES = 6
# Each job sleeps this long (the no-op engine): long enough to signal while one runs.
SLOW = {"UPSCALER_ENGINE_NOOP": "1", "UPSCALER_ENGINE_NOOP_DELAY_MS": "4000", "UPSCALER_WORKER_JOBS_IN_FLIGHT": "1"}
FAST = {"UPSCALER_ENGINE_NOOP": "1"}


def folder_of_images(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(IMAGES):
        cv2.imwrite(str(folder / f"{i}.png"), texture(8, 8, seed=i))
    return folder


def running_jobs(data_dir: Path) -> int:
    """Jobs running now, read from the embedded database as the command commits them."""
    database = data_dir / "upscaler.sqlite3"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM jobs WHERE status = 'running'").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not made yet
        return 0


def outputs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "out").glob("*.png")) if (tmp_path / "out").is_dir() else []


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_one_ctrl_c_finishes_the_running_job_and_leaves_the_rest_queued(tmp_path: Path) -> None:
    args = ["submit", str(folder_of_images(tmp_path)), "-o", str(tmp_path / "out")]
    process = start_cli(args, tmp_path / "data", **SLOW)
    wait_for(lambda: len(outputs(tmp_path)) >= 1 and running_jobs(tmp_path / "data") == 1, 120,
             "the first job written, the second running")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert "Ctrl-C: finishing the 1 running jobs;" in stderr and "will be left queued" in stderr, stderr
    finished = len(outputs(tmp_path))
    assert 1 <= finished < IMAGES
    assert "left queued; run the same `upscaler submit` again" in stderr
    again = run_cli(args, tmp_path / "data", **FAST)
    assert again.returncode == 0, again.stderr
    assert f"{IMAGES - finished} earlier jobs left queued by an interrupted run, run now" in again.stderr
    assert len(outputs(tmp_path)) == IMAGES


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_a_second_ctrl_c_stops_at_once_and_the_cut_job_runs_again(tmp_path: Path) -> None:
    args = ["submit", str(folder_of_images(tmp_path)), "-o", str(tmp_path / "out")]
    process = start_cli(args, tmp_path / "data", **{**SLOW, "UPSCALER_ENGINE_NOOP_DELAY_MS": "20000"})
    # The first job holds the device for 20 s: both signals land while it runs.
    wait_for(lambda: running_jobs(tmp_path / "data") == 1, 120, "the first job running")
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    stopped_at = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped_at < 5, "the second Ctrl-C did not stop the command at once"
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert "stopped: 1 running jobs cut off and 5 not started are left queued" in stderr
    assert outputs(tmp_path) == []
    again = run_cli(args, tmp_path / "data", **FAST)
    assert again.returncode == 0, again.stderr
    assert f"{IMAGES} earlier jobs left queued by an interrupted run, run now" in again.stderr
    assert len(outputs(tmp_path)) == IMAGES
