"""A local source's version is its content: a file replaced by other bytes of the same size and
the same modification time after submit fails its job with ``source_changed`` (it used to be
processed as the old version, local versions being size and mtime), the untouched one runs, and
submitting again makes a job for the new bytes. A real worker on PostgreSQL and Redis.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import run_cli, service_env, start_worker, wait_for
from tests.textures import texture

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def jobs(pg_url: str) -> dict[str, Job]:
    with Session(create_engine(pg_url)) as session:
        return {Path(j.source_uri).name: j for j in session.scalars(select(Job))}


def test_a_local_source_replaced_with_the_same_size_and_mtime_fails_as_changed(
        pg_url: str, redis_url: str, isolated_data_dir: Path, tmp_path: Path) -> None:
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, engine_noop="1", metrics_port="0")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    src = tmp_path / "in"
    src.mkdir()
    for i, name in enumerate(("kept.bmp", "swapped.bmp")):  # BMP: the size depends only on the shape
        cv2.imwrite(str(src / name), texture(16, 16, seed=i))
    submit = ["submit", str(src), "--output", str(tmp_path / "out"), "--json"]
    assert json.loads(run_cli(submit, env).stdout)["created"] == 2

    swapped = src / "swapped.bmp"
    before = swapped.stat()
    cv2.imwrite(str(swapped), texture(16, 16, seed=99))  # other pixels, the same number of bytes
    os.utime(swapped, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = swapped.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)

    worker = start_worker(env, tmp_path)
    try:
        wait_for(lambda: all(j.status in (JobStatus.succeeded, JobStatus.failed) for j in jobs(pg_url).values()),
                 60, "both jobs to end")
    finally:
        worker.stop()
    found = jobs(pg_url)
    assert found["kept.bmp"].status == JobStatus.succeeded
    assert (found["swapped.bmp"].status, found["swapped.bmp"].error_code) == (JobStatus.failed, "source_changed")
    again = json.loads(run_cli(submit, env).stdout)
    assert again["created"] == 1  # the new bytes are a new version, so a new job
