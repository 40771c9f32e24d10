"""SQL: migrations match the models, and every transition is a compare-and-set (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from db import transitions
from db.migrate import upgrade
from db.models import Base, Batch, Job, JobStatus


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    else:
        url = request.getfixturevalue("pg_url")
    upgrade(url)
    return url


@pytest.fixture
def session(db_url: str):
    from db.session import get_engine

    with Session(get_engine(db_url)) as s:
        yield s


def add_job(session: Session, status: JobStatus = JobStatus.queued) -> uuid.UUID:
    batch = Batch(name="b", source="s3://b/p/", output_prefix="s3://b/out/", model="m", params={})
    session.add(batch)
    session.flush()
    job = Job(batch_id=batch.id, idempotency_key=uuid.uuid4().hex, source_uri="s3://b/p/a.jpg",
              output_uri="s3://b/out/a.jpg", model="m", params={}, status=status)
    session.add(job)
    session.commit()
    return job.id


def test_migrations_create_exactly_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_claim_is_compare_and_set(session: Session) -> None:
    job_id = add_job(session)
    first = transitions.claim(session, job_id, "w1")
    assert first is not None and first.status == JobStatus.running and first.attempts == 1 and first.worker == "w1"
    assert transitions.claim(session, job_id, "w2") is None  # a second delivery loses
    assert transitions.succeed(session, job_id, "w2", infer_ms=5) is False  # not its job
    assert transitions.succeed(session, job_id, "w1", infer_ms=5, output_width=8) is True
    assert transitions.succeed(session, job_id, "w1") is False  # only once
    assert transitions.status_of(session, job_id) == JobStatus.succeeded
    assert transitions.claim(session, job_id, "w3") is None


def test_release_retry_and_fail(session: Session) -> None:
    job_id = add_job(session)
    transitions.claim(session, job_id, "w1")
    assert transitions.release(session, job_id, "w1", "storage_unavailable", "S3 answered 503")
    assert transitions.status_of(session, job_id) == JobStatus.queued
    job = transitions.claim(session, job_id, "w2")
    assert job.attempts == 2 and job.error_code is None  # a new attempt starts clean
    assert transitions.fail(session, job_id, "invalid_image", "x" * 5000, "w2")
    job = session.get(Job, job_id, populate_existing=True)
    assert job.status == JobStatus.failed and len(job.error_message) == transitions.MAX_ERROR_MESSAGE
    assert transitions.fail(session, job_id, "again", "no", "w2") is False
    assert transitions.requeue_failed(session, job.batch_id) == [job_id]
    assert transitions.status_of(session, job_id) == JobStatus.queued


def test_cancel_only_touches_queued_jobs(session: Session) -> None:
    queued = add_job(session)
    batch_id = session.get(Job, queued).batch_id
    running = Job(batch_id=batch_id, idempotency_key=uuid.uuid4().hex, source_uri="s3://b/p/c.jpg",
                  output_uri="s3://b/out/c.jpg", model="m", params={}, status=JobStatus.running, worker="w")
    session.add(running)
    session.commit()
    assert transitions.cancel(session, batch_id) == 1
    assert transitions.status_of(session, queued) == JobStatus.cancelled
    assert transitions.status_of(session, running.id) == JobStatus.running


def test_many_new_jobs_go_in_statements_that_do_not_grow_with_the_rows(session: Session) -> None:
    """insert_new skips the keys that exist, returns the ids it inserted, keeps every column's value
    (JSON, status, times, NULLs); on PostgreSQL each chunk is one statement whose text is the same
    whatever the rows (the driver parses it once, where a VALUES list of placeholders per row is
    scanned again for every statement)."""
    from sqlalchemy import event, select

    from db.jobs import NewJob, insert_new

    batch = Batch(name="b", source="s3://b/p/", output_prefix="s3://b/out/", model="m", params={})
    session.add(batch)
    session.flush()

    def new_job(i: int) -> NewJob:
        return NewJob(uuid.uuid4(), batch.id, f"s3://b/p/{i}.png", f"etag{i}" if i % 2 else None, i or None,
                      f"s3://b/out/{i}.png", "m", {"model": "m", "scale": 4, "i": i}, material="fabric" if i % 3 else None,
                      detail=0.5 if i % 5 else None, idempotency_key=f"key{i}")

    assert len(insert_new(session, [new_job(i) for i in range(0, 1500, 7)])) == len(range(0, 1500, 7))
    statements: list[str] = []
    listener = lambda _c, _cur, statement, *_a: statements.append(statement)  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        jobs = [new_job(i) for i in range(1500)]
        inserted = insert_new(session, jobs)
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert set(inserted) == {job.id for i, job in enumerate(jobs) if i % 7}
    stored = {j.idempotency_key: j for j in session.scalars(select(Job).where(Job.batch_id == batch.id))}
    assert len(stored) == 1500
    row = stored["key10"]
    assert (row.params, row.status, row.source_etag, row.source_size, row.material, row.detail) == (
        {"model": "m", "scale": 4, "i": 10}, JobStatus.queued, None, 10, "fabric", None)
    assert row.queued_at == jobs[10].queued_at or row.queued_at == jobs[10].queued_at.replace(tzinfo=None)
    if session.get_bind().dialect.name == "postgresql":
        assert statements and max(len(s) for s in statements) < 2000, [len(s) for s in statements]
