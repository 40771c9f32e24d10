"""Two submits racing for the same outputs: one source wins each output, never both.

Two processes started together (a barrier releases them at once) submit different folders whose
files have the same names to one output prefix, on SQLite and on PostgreSQL. The collision check
and the insert happen under one lock in the database (db.jobs.lock_outputs), so the second
submit sees the first one's jobs and refuses its own as collisions.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.migrate import upgrade
from db.models import Job, JobStatus

RUNS = 20
NAMES = 150


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    return url


def _submit(barrier, source: str, output: str, url: str, results) -> None:
    from producer.submit import create_batch

    barrier.wait(timeout=60)
    result = create_batch([source], output, database_url=url)
    results.put((source, result.created, result.collisions))


@pytest.mark.slow
def test_two_submits_started_together_never_both_win(db_url: str, tmp_path: Path) -> None:
    folders = []
    for side in ("left", "right"):
        folder = tmp_path / side
        folder.mkdir()
        for i in range(NAMES):
            (folder / f"tile-{i:03d}.png").write_bytes(f"{side} {i}".encode())  # never decoded: nothing runs
        folders.append(str(folder))
    context = multiprocessing.get_context("fork")
    for run in range(RUNS):
        output = str(tmp_path / "out" / f"run{run}")
        barrier, results = context.Barrier(2), context.Queue()
        racers = [context.Process(target=_submit, args=(barrier, folder, output, db_url, results)) for folder in folders]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join(120)
            assert racer.exitcode == 0, f"run {run}: a submit failed"
        reports = [results.get(timeout=5) for _ in racers]
        assert sum(collisions for _, _, collisions in reports) == NAMES, (run, reports)

    from db.session import get_engine

    with Session(get_engine(db_url)) as session:
        live = session.execute(select(Job.output_key, Job.source_uri).where(
            Job.status.in_([JobStatus.queued, JobStatus.running, JobStatus.succeeded]))).all()
        refused = session.scalar(select(Job.id).where(Job.error_code == "output_collision").limit(1))
    writers = Counter(key for key, _ in live)
    assert len(writers) == RUNS * NAMES and set(writers.values()) == {1}  # one live job per output, every run
    assert refused is not None
