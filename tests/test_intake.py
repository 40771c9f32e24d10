"""Nightly scans of watched inboxes and S3 event notifications, against moto (S3 + SQS over
HTTP), PostgreSQL and Redis; a real worker for the morning report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from db.models import Batch, Job, Watch
from db.session import session_scope
from tests.services import run_cli, service_env, start_worker, wait_for
from tests.support import texture
from upscaler.imageio import encode
from upscaler.jobspec import JobRequest

COMPACT = "realesr-animevideov3"


@pytest.fixture
def intake(monkeypatch, pg_url: str, redis_url: str, s3_endpoint: str, isolated_data_dir: Path, tmp_path: Path):
    from db.migrate import upgrade
    from upscaler.settings import get_settings

    settings = dict(database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                    data_dir=str(tmp_path / "state"))
    for key, value in settings.items():
        monkeypatch.setenv(f"UPSCALER_{key.upper()}", value)
    get_settings.cache_clear()
    upgrade(pg_url)
    yield settings
    monkeypatch.undo()
    get_settings.cache_clear()


def png(seed: int) -> bytes:
    return encode(texture(16, 20, seed=seed), "png")


def jobs_by_source(batch_id=None) -> dict[str, Job]:
    with session_scope() as session:
        query = select(Job) if batch_id is None else select(Job).where(Job.batch_id == batch_id)
        return {j.source_uri: j for j in session.scalars(query)}


def test_nightly_scan_takes_new_and_changed_images_once(intake, s3, tmp_path: Path, isolated_data_dir: Path) -> None:
    from producer.intake import add_watch
    from upscaler.settings import get_settings
    from workers.core.celery_app import create_app

    app = create_app(get_settings())  # what the worker and beat build; the task runs on it
    from workers.tasks import nightly_scan

    s3.create_bucket(Bucket="inbox-bucket")
    add_watch("acme", "s3://inbox-bucket/acme", "s3://inbox-bucket/out/acme/", JobRequest.from_fields(model=COMPACT))
    keys = ["acme/linen weave.png", "acme/wool/tête brodée.png", "acme/stone/slabs/marble 2.png"]
    for seed, key in enumerate(keys):
        s3.put_object(Bucket="inbox-bucket", Key=key, Body=png(seed))
    s3.put_object(Bucket="inbox-bucket", Key="acme/price list.txt", Body=b"not an image")
    s3.put_object(Bucket="inbox-bucket", Key="acmeother/x.png", Body=png(9))  # a neighbour prefix, not watched

    env = service_env(isolated_data_dir, **{k: v for k, v in intake.items() if k != "data_dir"})
    worker = start_worker(env, tmp_path)
    try:
        (first,) = nightly_scan()  # what beat sends at 02:00, called now
        assert first["created"] == 3
        batch_id = first["batch_id"]
        assert set(jobs_by_source()) == {f"s3://inbox-bucket/{k}" for k in keys}
        with session_scope() as session:
            batch = session.scalars(select(Batch)).one()
            assert batch.intake_key == f"nightly:{date.today().isoformat()}" and str(batch.id) == batch_id

        # The morning report appears next to the outputs once the batch has run.
        report_key = f"out/acme/_reports/nightly-{date.today().isoformat()}.json"
        wait_for(lambda: "Contents" in s3.list_objects_v2(Bucket="inbox-bucket", Prefix=report_key), 60, "report")
        report = json.loads(s3.get_object(Bucket="inbox-bucket", Key=report_key)["Body"].read())
        assert report["counts"]["succeeded"] == 3 and report["batch_id"] == batch_id
        assert "median_stage_ms" in report and report["images_per_second"]
        status = json.loads(run_cli(["status", batch_id, "--json"], env).stdout)
        assert status["report_uri"] == f"s3://inbox-bucket/{report_key}"
        assert s3.head_object(Bucket="inbox-bucket", Key="out/acme/wool/tête brodée.png")

        # Again the same night: nothing new, no new batch.
        assert nightly_scan() == [{"watch": "acme", "batch_id": batch_id, "created": 0, "how": "listing"}]
        # One image replaced (new ETag), next night: only it is redone, in a new batch.
        s3.put_object(Bucket="inbox-bucket", Key=keys[1], Body=png(42))
        from producer.intake import scan_watch

        with session_scope() as session:
            from db.models import Watch

            watch_id = session.scalars(select(Watch)).one().id
        second = scan_watch(watch_id, date.today() + timedelta(days=1))
        assert second.created == 1 and str(second.batch_id) != batch_id
        assert set(jobs_by_source(second.batch_id)) == {f"s3://inbox-bucket/{keys[1]}"}
        with session_scope() as session:
            assert session.scalar(select(func.count()).select_from(Job)) == 4
    finally:
        worker.stop()

    # The beat entry: 02:00 UTC by default, configurable.
    entry = app.conf.beat_schedule["nightly-scan"]
    assert entry["task"] == "upscaler.nightly_scan"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {0}
    assert app.conf.timezone == "UTC"
    import os

    os.environ["UPSCALER_NIGHTLY_CRON"] = "30 23 * * 1-5"
    get_settings.cache_clear()
    try:
        custom = create_app(get_settings()).conf.beat_schedule["nightly-scan"]["schedule"]
        assert custom.hour == {23} and custom.minute == {30} and custom.day_of_week == {1, 2, 3, 4, 5}
    finally:
        del os.environ["UPSCALER_NIGHTLY_CRON"]
        get_settings.cache_clear()


def test_a_night_with_an_events_queue_drains_it_and_lists_the_inbox_only_when_due(
        intake, s3, s3_endpoint: str, monkeypatch) -> None:
    """The night's cost is its new images: a watch whose bucket sends its events to a queue is
    not listed (its queue is drained into the night's batch) until its last full listing is
    UPSCALER_FULL_LISTING_DAYS old; that listing takes what no event announced."""
    from producer import intake as intake_module
    from producer.intake import add_watch
    from producer.nightly import scan_all
    from upscaler.storage import Storage

    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="nightly-uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="drained-bucket")
    for i in range(5):  # there before the notifications: no event will ever name them
        s3.put_object(Bucket="drained-bucket", Key=f"inbox/old-{i}.png", Body=png(i))
    add_watch("drained", "s3://drained-bucket/inbox/", "s3://drained-bucket/out/", JobRequest.from_fields(model=COMPACT),
              events_queue=queue_url)
    listings: list[str] = []
    real_list = Storage.list
    monkeypatch.setattr(Storage, "list", lambda self, prefix, *a, **k: listings.append(prefix) or real_list(
        self, prefix, *a, **k))

    first = scan_all(_dispatcher(), date(2026, 1, 1))  # never listed: listed in full, whatever the queue holds
    assert [(r.created, r.how) for r in first] == [(5, "listing")] and listings == ["s3://drained-bucket/inbox/"]

    s3.put_bucket_notification_configuration(Bucket="drained-bucket", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    for i in range(3):
        s3.put_object(Bucket="drained-bucket", Key=f"inbox/new-{i}.png", Body=png(10 + i))
    s3.put_object(Bucket="drained-bucket", Key="inbox/readme.txt", Body=b"not an image")
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")
    listings.clear()
    second = scan_all(_dispatcher(), date(2026, 1, 2))
    assert [(r.created, r.how) for r in second] == [(3, "events")] and listings == []
    assert {u for u in jobs_by_source(second[0].batch_id)} == {f"s3://drained-bucket/inbox/new-{i}.png"
                                                               for i in range(3)}
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"

    # Missed by the events (written by the bucket's owner with notifications off, say): found by
    # the next full listing, due once the last one is UPSCALER_FULL_LISTING_DAYS old (or --full).
    s3.put_bucket_notification_configuration(Bucket="drained-bucket", NotificationConfiguration={})
    s3.put_object(Bucket="drained-bucket", Key="inbox/unannounced.png", Body=png(20))
    assert [(r.created, r.how) for r in scan_all(_dispatcher(), date(2026, 1, 3))] == [(0, "events")] and listings == []
    monkeypatch.setenv("UPSCALER_FULL_LISTING_DAYS", "0")
    intake_module.get_settings.cache_clear()
    fourth = scan_all(_dispatcher(), date(2026, 1, 4))
    assert [(r.created, r.how) for r in fourth] == [(1, "listing")] and listings == ["s3://drained-bucket/inbox/"]

    # A queue that cannot be drained (gone, access refused) does not stop the other watches' night.
    monkeypatch.setenv("UPSCALER_FULL_LISTING_DAYS", "7")
    intake_module.get_settings.cache_clear()
    add_watch("gone", "s3://drained-bucket/gone/", "s3://drained-bucket/gone-out/", JobRequest.from_fields(model=COMPACT),
              events_queue=queue_url.rsplit("/", 1)[0] + "/no-such-queue")
    s3.put_object(Bucket="drained-bucket", Key="inbox/later.png", Body=png(21))
    listings.clear()
    night = scan_all(_dispatcher(), date(2026, 1, 5))
    assert sorted((r.watch, r.created, r.how) for r in night) == [("drained", 0, "events"), ("gone", 0, "listing")]
    with session_scope() as session:  # "gone" was never listed: its first night lists it, drains nothing
        gone = session.scalars(select(Watch).where(Watch.name == "gone")).one()
        gone.listed_at = datetime.now(UTC)
    night = scan_all(_dispatcher(), date(2026, 1, 6))
    assert sorted((r.watch, r.created, r.how) for r in night) == [("drained", 0, "events"), ("gone", 0, "events")]


class Crash(BaseException):
    """Stands for the consumer process dying: not an Exception, nothing catches it."""


def test_event_consumer(intake, s3, s3_endpoint: str, tmp_path: Path) -> None:
    from producer.events import EventConsumer
    from producer.intake import add_watch

    sqs = boto3.client("sqs", endpoint_url=s3_endpoint, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket="events-bucket")
    s3.put_bucket_notification_configuration(Bucket="events-bucket", NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    add_watch("drop", "s3://events-bucket/inbox/", "s3://events-bucket/out/", JobRequest.from_fields(model=COMPACT))

    s3.put_object(Bucket="events-bucket", Key="inbox/new tile+grout.png", Body=png(1))
    s3.put_object(Bucket="events-bucket", Key="inbox/ünïcode/façade.png", Body=png(2))
    s3.put_object(Bucket="events-bucket", Key="inbox/notes.txt", Body=b"text")
    s3.put_object(Bucket="events-bucket", Key="elsewhere/x.png", Body=png(3))
    # At-least-once delivery: the same event twice; and something that is not an event at all.
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    duplicate = next(m["Body"] for m in messages if "façade" in m["Body"] or "fa%C3%A7ade" in m["Body"])
    sqs.send_message(QueueUrl=queue_url, MessageBody=duplicate)
    sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")

    consumer = EventConsumer(queue_url, _dispatcher(), visibility_timeout=1)
    stats = consumer.run(wait_seconds=1, stop_when_idle=True)
    assert stats.jobs_created == 2 and stats.dead_lettered == 1
    assert set(jobs_by_source()) == {"s3://events-bucket/inbox/new tile+grout.png",
                                     "s3://events-bucket/inbox/ünïcode/façade.png"}
    dead = [json.loads(line) for line in consumer.dead_letter_file.read_text().splitlines()]
    assert len(dead) == 1 and dead[0]["body"] == "{not json" and "malformed" in dead[0]["reason"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"

    # The consumer dies after committing the jobs and before deleting the message.
    s3.put_object(Bucket="events-bucket", Key="inbox/late arrival.png", Body=png(4))
    dying = EventConsumer(queue_url, _dispatcher(), visibility_timeout=1)

    def crash(message):
        raise Crash()

    dying.delete = crash
    with pytest.raises(Crash):
        dying.run(wait_seconds=1, stop_when_idle=True)
    assert "s3://events-bucket/inbox/late arrival.png" in jobs_by_source()
    restarted = EventConsumer(queue_url, _dispatcher(), visibility_timeout=1)
    wait_for(lambda: restarted.run(wait_seconds=1, stop_when_idle=True).messages >= 1, 20, "redelivery")
    assert restarted.stats.jobs_created == 0  # the redelivered event found its job already there
    with session_scope() as session:
        late = session.scalar(select(func.count()).select_from(Job).where(
            Job.source_uri == "s3://events-bucket/inbox/late arrival.png"))
    assert late == 1
    with session_scope() as session:
        assert len(session.scalars(select(Batch)).all()) == 1  # one events batch for the day


def test_only_one_scheduler_holds_the_lock(intake, pg_url: str) -> None:
    from workers.core.locks import SchedulerLock

    first, second = SchedulerLock(pg_url), SchedulerLock(pg_url)
    assert first.try_acquire()
    assert not second.try_acquire()
    first.release()  # the active beat died or stopped: the standby takes over
    assert second.try_acquire()
    second.release()


def test_second_beat_stands_by(pg_url: str, redis_url: str, tmp_path: Path, isolated_data_dir: Path) -> None:
    from db.migrate import upgrade
    from tests.services import BIN, Process

    upgrade(pg_url)
    env = service_env(tmp_path / "beat-state", database_url=pg_url, broker_url=redis_url)
    first = Process([str(BIN / "upscaler"), "beat"], env, tmp_path / "beat1.log")
    second = None
    try:
        first.wait_for_output("this beat is the active one", timeout=60)
        first.wait_for_output("beat: Starting", timeout=60)
        second = Process([str(BIN / "upscaler"), "beat"], dict(env, UPSCALER_DATA_DIR=str(tmp_path / "b2")),
                         tmp_path / "beat2.log")
        second.wait_for_output("standing by", timeout=60)
        assert "beat: Starting" not in second.output()
    finally:
        first.stop()
        if second:
            second.stop()


@pytest.mark.slow
def test_watch_commands(tmp_path: Path, isolated_data_dir: Path) -> None:
    env = service_env(tmp_path / "state")
    added = run_cli(["watch", "add", "acme", "s3://bucket/acme", "--output", "s3://bucket/out/", "--format", "webp",
                     "--events-queue", "https://sqs.eu-west-1.amazonaws.com/123456789012/acme-uploads"], env)
    assert added.returncode == 0, added.stderr
    assert run_cli(["watch", "add", "acme", "s3://bucket/x/", "--output", "s3://b/o/"], env).returncode == 1
    listed = json.loads(run_cli(["watch", "list", "--json"], env).stdout)
    assert listed == [{"name": "acme", "source": "s3://bucket/acme/", "output": "s3://bucket/out/",
                       "model": "realesrgan-x4plus", "params": JobRequest.from_fields(format="webp", material="auto", fixed=("format",)).to_json(),
                       "enabled": True, "events_queue": "https://sqs.eu-west-1.amazonaws.com/123456789012/acme-uploads",
                       "listed_at": None}]
    assert run_cli(["watch", "remove", "acme"], env).returncode == 0
    assert json.loads(run_cli(["watch", "list", "--json"], env).stdout) == []


def _dispatcher():
    from upscaler.settings import get_settings
    from workers.core.celery_app import create_app
    from workers.core.dispatch import CeleryDispatcher, InProcessDispatcher

    settings = get_settings()
    return CeleryDispatcher(create_app(settings)) if settings.broker_url else InProcessDispatcher()
