"""A full local disk (ENOSPC) is its own transient error: the job is released as ``disk_full``,
retried with backoff, and succeeds once space comes back; never ``internal_error``.

The worker runs in its own mount namespace (``unshare``, no privileges needed where user
namespaces are allowed) where the output folder is a tiny tmpfs filled to the last byte; a
shell in that namespace frees it when the test says so.
"""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import cv2
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import BIN, Process, run_cli, service_env, wait_for
from tests.textures import texture

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def the_job(pg_url: str) -> Job:
    with Session(create_engine(pg_url)) as session:
        return session.scalars(select(Job)).one()


def test_a_full_disk_is_retried_as_disk_full_until_space_comes_back(pg_url: str, redis_url: str,
                                                                     isolated_data_dir: Path, tmp_path: Path) -> None:
    assert shutil.which("unshare"), "util-linux's unshare runs the worker in its own mount namespace"
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, engine_noop="1",
                      transient_retries="8", max_attempts="10", metrics_port="0")  # every retry is an attempt
    assert run_cli(["db", "upgrade"], env).returncode == 0
    src, out, free_now = tmp_path / "in", tmp_path / "out", tmp_path / "free-now"
    src.mkdir()
    out.mkdir()
    cv2.imwrite(str(src / "a.png"), texture(64, 64))
    worker_cmd = " ".join(shlex.quote(a) for a in [str(BIN / "upscaler"), "worker", "--queues", "gpu",
                                                     "--name", "diskfull@localhost"])
    script = (f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(out))} && "
              f"(dd if=/dev/zero of={shlex.quote(str(out / 'filler'))} bs=4k 2>/dev/null; true) && "
              f"(while [ ! -e {shlex.quote(str(free_now))} ]; do sleep 0.2; done; "
              f"rm {shlex.quote(str(out / 'filler'))}; echo SPACE FREED) & exec {worker_cmd}")
    worker = Process(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script], env,
                     tmp_path / "worker.log")
    try:
        worker.wait_for_output("ready.", timeout=90)
        submitted = run_cli(["submit", str(src), "--output", str(out), "--json"], env)
        assert json.loads(submitted.stdout)["created"] == 1, submitted.stderr
        released = wait_for(lambda: (j := the_job(pg_url)).error_code == "disk_full" and j, 60, "a disk_full release")
        assert released.status in (JobStatus.queued, JobStatus.running)
        assert "no space left on device" in released.error_message
        free_now.touch()
        worker.wait_for_output("SPACE FREED", timeout=30)
        done = wait_for(lambda: (j := the_job(pg_url)).status in (JobStatus.succeeded, JobStatus.failed) and j,
                        120, "the job to end")
    finally:
        worker.stop()
    assert done.status == JobStatus.succeeded, (done.error_code, done.error_message)
    log = worker.output()
    assert "transient error, released (retry 1 in" in log and "internal_error" not in log
