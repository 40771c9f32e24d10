"""The sweeper re-sends every lost message, however many there are and wherever they sit behind
messages that are still waiting (SQLite and PostgreSQL; the broker's contents stubbed)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from db.migrate import upgrade
from db.models import Batch, Job, JobStatus, utcnow
from upscaler.settings import get_settings
from workers.core import sweeper
from workers.core.dispatch import Dispatcher
from workers.core.broker_contents import JobIds


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'jobs.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    upgrade(url)
    monkeypatch.setenv("UPSCALER_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def queued_jobs(url: str, count: int, sent_minutes_ago: float) -> list[uuid.UUID]:
    """``count`` queued jobs, oldest first, whose last message went out that long ago."""
    from db.session import get_engine

    now = utcnow()
    with Session(get_engine(url)) as session:
        batch = Batch(name="b", source="s3://b/p/", output_prefix="s3://b/out/", model="m", params={})
        session.add(batch)
        session.flush()
        jobs = [Job(batch_id=batch.id, idempotency_key=uuid.uuid4().hex, source_uri=f"s3://b/p/{i}.jpg",
                    output_uri=f"s3://b/out/{i}.jpg", model="m", params={}, status=JobStatus.queued,
                    queued_at=now - timedelta(hours=2) + timedelta(seconds=i),
                    enqueued_at=now - timedelta(minutes=sent_minutes_ago)) for i in range(count)]
        session.add_all(jobs)
        session.commit()
        return [job.id for job in jobs]


class RecordingDispatcher(Dispatcher):
    """A broker as the sweeper sees it: the ids sent recorded and stamped as sent (what the Celery
    dispatcher does), and the ids it says it still holds."""

    def __init__(self, sent: list, waiting: JobIds, reads: list | None = None) -> None:
        self.sent, self.waiting, self.reads = sent, waiting, reads if reads is not None else []

    def jobs(self, job_ids, on_done=None) -> None:
        from db import jobs as jobs_table
        from db.session import session_scope

        self.sent.extend(job_ids)
        with session_scope() as session:
            jobs_table.mark_sent(session, job_ids)

    def training_segment(self, run_id) -> None:
        raise AssertionError("the sweeper sends no training segments")

    def job_ids_waiting(self, queue: str) -> JobIds:
        self.reads.append(queue)
        return self.waiting


def test_lost_messages_behind_a_waiting_backlog_are_all_resent(db_url: str, monkeypatch) -> None:
    """25 old jobs whose messages still wait in the broker come first in queue order; behind them,
    10 whose messages were lost. With pages of 10, every lost one is sent again in one sweep, and
    none of the waiting ones."""
    ids = queued_jobs(db_url, 35, sent_minutes_ago=60)
    waiting, lost = ids[:25], ids[25:]
    reads, sent = [], []
    broker = RecordingDispatcher(sent, JobIds([i.bytes for i in waiting]), reads)
    monkeypatch.setattr(sweeper, "PAGE", 10)

    first = sweeper.sweep(broker)
    assert sorted(sent) == sorted(lost) and first.resent_lost == 10
    assert len(reads) == 1  # the broker is read once per sweep, not once per page

    sent.clear()
    assert sweeper.sweep(broker).resent_lost == 0 and sent == []  # just sent: not stale any more


def test_a_pass_goes_on_while_pages_are_full(db_url: str, monkeypatch) -> None:
    """With the broker flushed, 45 lost jobs and pages of 10: all 45 in one sweep."""
    ids = queued_jobs(db_url, 45, sent_minutes_ago=60)
    sent = []
    monkeypatch.setattr(sweeper, "PAGE", 10)
    assert sweeper.sweep(RecordingDispatcher(sent, JobIds([]))).resent_lost == 45 and sorted(sent) == sorted(ids)


def test_broker_ids_are_a_compact_set() -> None:
    ids = [uuid.uuid4() for _ in range(200)]
    held = JobIds([i.bytes for i in ids[:100]])
    assert len(held) == 100
    assert all(i in held for i in ids[:100]) and all(str(i) in held for i in ids[:100])
    assert not any(i in held for i in ids[100:]) and "not-a-uuid" not in held
