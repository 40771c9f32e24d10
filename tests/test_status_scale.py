"""``status`` reads a bounded number of rows whatever the batch's size (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from db import queries
from db.migrate import upgrade
from db.models import Batch, Job, JobStatus, utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def session(request, tmp_path: Path):
    from db.session import get_engine

    url = f"sqlite:///{tmp_path / 'status.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    with Session(get_engine(url)) as s:
        yield s


def make_batch(session: Session, succeeded: int, failed: int = 0) -> Batch:
    batch = Batch(name="big", source="s3://b/p/", output_prefix="s3://b/out/", model="m", params={})
    session.add(batch)
    session.flush()
    start = utcnow()
    session.add_all(Job(batch_id=batch.id, idempotency_key=uuid.uuid4().hex, source_uri=f"s3://b/p/{i}.png",
                        output_uri=f"s3://b/out/{i}.png", model="m", params={},
                        status=JobStatus.succeeded if i < succeeded else JobStatus.failed,
                        error_code=None if i < succeeded else "invalid_image",
                        started_at=start + timedelta(seconds=i), finished_at=start + timedelta(seconds=i + 1),
                        infer_ms=i % 100, download_ms=7, maps=["height.png"] if i % 2 else None)
                    for i in range(succeeded + failed))
    session.commit()
    return batch


def rows_read(session: Session, action) -> int:
    """Rows the database handed back while ``action`` ran (PostgreSQL's driver counts the rows of
    a SELECT; SQLite's does not, and reads as 0)."""
    fetched = []
    engine = session.get_bind()

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        fetched.append(cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 else 0)

    event.listen(engine, "after_cursor_execute", count)
    try:
        action()
    finally:
        event.remove(engine, "after_cursor_execute", count)
    return sum(fetched)


def test_medians_come_from_a_bounded_sample(session: Session, monkeypatch) -> None:
    batch = make_batch(session, 3000, failed=5)
    exact = queries.summarize(session, batch)
    assert exact.counts["succeeded"] == 3000 and exact.counts["failed"] == 5 and exact.total == 3005
    assert exact.median_stage_ms == {"download": 7, "infer": 49.5} and exact.material_sets == 1500
    assert exact.seconds == 3005 and len(exact.failures) == 5

    monkeypatch.setattr(queries, "MEDIAN_SAMPLE", 300)
    sampled = []
    read = rows_read(session, lambda: sampled.append(queries.summarize(session, batch, failure_limit=3)))
    if session.get_bind().dialect.name == "postgresql":
        assert read < 600  # the sample, a few failures and the aggregates; not 3000 rows
    assert sampled[0].median_stage_ms["download"] == 7 and 35 <= sampled[0].median_stage_ms["infer"] <= 65
    assert sampled[0].counts == exact.counts and sampled[0].material_sets == 1500


def test_recent_batches_are_counted_in_grouped_queries(session: Session) -> None:
    batches = [make_batch(session, 50 * (n + 1)) for n in range(3)]
    summaries = queries.summarize_recent(session)
    assert {s.batch_id: s.counts["succeeded"] for s in summaries} == {str(b.id): 50 * (n + 1)
                                                                        for n, b in enumerate(batches)}
    assert all(s.images_per_second for s in summaries)


def test_a_batch_is_read_in_one_grouped_scan(session: Session) -> None:
    """Counts, span and material sets come from one query grouped by status; failures, warnings
    and profiles are read only when it found some (a million-job batch is scanned once, not once
    per figure)."""
    batch = make_batch(session, 400)
    statements: list[str] = []
    engine = session.get_bind()

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        summary = queries.summarize(session, batch)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert summary.counts["succeeded"] == 400 and summary.material_sets == 200 and summary.seconds == 400
    assert summary.failures == [] and summary.warnings == []
    assert len([s for s in statements if "FROM jobs" in s]) == 2  # the tally and the timing sample
