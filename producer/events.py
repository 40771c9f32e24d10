"""``upscaler events consume``: S3 event notifications from an SQS queue become jobs.

Delivery is at least once and unordered, so every message is handled idempotently: keys are
URL-decoded (``+`` is a space), ``s3:TestEvent`` and non-image keys are ignored, each image
maps to the watch whose prefix holds it, its jobs are committed (deduplicated by idempotency
key) and enqueued, and only then is the message deleted. A message that cannot be parsed, or
that keeps failing (more than ``max_receives`` deliveries), goes to the dead-letter path with
a log line and is deleted: nothing loops forever.

The same queue can instead be drained by the nightly scan (:func:`drain_queue`): the messages
waiting are taken a round at a time (up to ``DRAIN_ROUND`` messages held invisible), their jobs
committed in one transaction per round into the night's batch, enqueued, and only then deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import boto3

from db.models import Watch
from db.session import session_scope
from producer.intake import IntakeResult, add_to_intake, list_watches, today
from producer.sources import SourceImage, is_image_name
from upscaler.settings import get_settings

if TYPE_CHECKING:
    from workers.core.dispatch import Dispatcher

log = logging.getLogger(__name__)
DRAIN_ROUND = 1000          # messages held (invisible) and committed together by a nightly drain
DRAIN_VISIBILITY = 600      # s a drained message stays invisible: far longer than one round takes


class MalformedEvent(ValueError):
    pass


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    etag: str | None
    size: int | None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class ConsumeStats:
    messages: int = 0
    jobs_created: int = 0
    ignored: int = 0
    dead_lettered: int = 0
    batches: set = field(default_factory=set)


def parse_event(body: str) -> list[S3Object] | None:
    """The created objects in one SQS message body; None for S3's test event."""
    try:
        data = json.loads(body)
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"not JSON: {exc}") from exc
    if isinstance(data, dict) and "Message" in data and "Records" not in data:  # wrapped by SNS
        return parse_event(data["Message"])
    if isinstance(data, dict) and data.get("Event") == "s3:TestEvent":
        return None
    if not isinstance(data, dict) or not isinstance(data.get("Records"), list):
        raise MalformedEvent("no Records list")
    objects = []
    for record in data["Records"]:
        try:
            if not str(record["eventName"]).startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            objects.append(S3Object(s3["bucket"]["name"], unquote_plus(s3["object"]["key"]),
                                    (s3["object"].get("eTag") or "").strip('"') or None, s3["object"].get("size")))
        except (KeyError, TypeError) as exc:
            raise MalformedEvent(f"record without {exc}") from exc
    return objects


class EventConsumer:
    def __init__(self, queue_url: str, dispatcher: Dispatcher, *, dead_letter_url: str | None = None,
                 max_receives: int = 5, visibility_timeout: int = 60) -> None:
        settings = get_settings()
        self.dispatcher = dispatcher  # who runs the jobs the events make
        self.queue_url, self.dead_letter_url, self.max_receives = queue_url, dead_letter_url, max_receives
        self.visibility_timeout = visibility_timeout
        self.sqs = boto3.client("sqs", endpoint_url=settings.sqs_endpoint_url or settings.s3_endpoint_url)
        self.dead_letter_file = settings.data_dir / "dead-letters" / "s3-events.jsonl"
        self.stats = ConsumeStats()

    def run(self, *, wait_seconds: int = 20, stop_when_idle: bool = False, max_messages: int | None = None) -> ConsumeStats:
        while max_messages is None or self.stats.messages < max_messages:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=self.visibility_timeout, AttributeNames=["ApproximateReceiveCount"])
            messages = response.get("Messages", [])
            if not messages and stop_when_idle:
                break
            for message in messages:
                self.handle(message)
        return self.stats

    def read(self, message: dict) -> list[S3Object] | None | MalformedEvent:
        """The objects a message names, None for S3's test event (counted as ignored), or the
        parse error of a malformed one, which is dead-lettered here."""
        self.stats.messages += 1
        try:
            objects = parse_event(message["Body"])
        except MalformedEvent as exc:
            self.dead_letter(message, f"malformed: {exc}")
            return exc
        if objects is None:
            self.stats.ignored += 1
        return objects

    def dead_letter_if_exhausted(self, message: dict, exc: Exception) -> bool:
        """Dead-letter a message whose processing failed for the ``max_receives``-th time."""
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        if receives < self.max_receives:
            return False
        self.dead_letter(message, f"failed {receives} times, last: {type(exc).__name__}: {exc}")
        return True

    def handle(self, message: dict) -> None:
        objects = self.read(message)
        if isinstance(objects, MalformedEvent):
            return
        if objects is None:
            log.info("ignored s3:TestEvent")
            self.delete(message)
            return
        try:
            self.create_jobs(objects)
        except Exception as exc:
            if not self.dead_letter_if_exhausted(message, exc):
                log.warning("event message failed (delivery %s), left for redelivery: %s",
                            message.get("Attributes", {}).get("ApproximateReceiveCount", "1"), exc)
            return  # not deleted: it comes back after the visibility timeout
        self.delete(message)

    def drain(self, intake_key: str) -> list[IntakeResult]:
        """Take every message waiting, a round at a time, into the batches of ``intake_key``;
        stop at the first empty receive. One result per watch that events reached."""
        totals: dict[str, IntakeResult] = {}
        while True:
            held: list[dict] = []
            objects: list[S3Object] = []
            while len(held) < DRAIN_ROUND:
                response = self.sqs.receive_message(
                    QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                    VisibilityTimeout=DRAIN_VISIBILITY, AttributeNames=["ApproximateReceiveCount"])
                messages = response.get("Messages", [])
                if not messages:
                    break
                for message in messages:
                    found = self.read(message)
                    if isinstance(found, MalformedEvent):
                        continue
                    objects += found or []
                    held.append(message)
            if not held:
                return list(totals.values())
            try:
                results = self.create_jobs(objects, intake_key)
            except Exception as exc:
                # Left for redelivery after DRAIN_VISIBILITY; repeated failures go to dead letters.
                for message in held:
                    self.dead_letter_if_exhausted(message, exc)
                raise
            for result in results:
                total = totals.setdefault(result.watch, IntakeResult(result.watch, result.batch_id, 0, [], "events"))
                total.batch_id, total.created = result.batch_id or total.batch_id, total.created + result.created
            self.delete_all(held)

    def create_jobs(self, objects: list[S3Object], intake_key: str | None = None) -> list[IntakeResult]:
        """Jobs for the objects under an enabled watch, in its batch for ``intake_key`` (default:
        today's events batch), committed, then handed to the dispatcher."""
        with session_scope() as session:
            watches = list_watches(session, enabled_only=True)
            grouped: dict[str, tuple[Watch, list[SourceImage]]] = {}
            for obj in objects:
                watch = next((w for w in watches if obj.uri.startswith(w.source_prefix)), None)
                if watch is None or not is_image_name(obj.key):
                    self.stats.ignored += 1
                    continue
                image = SourceImage(obj.uri, obj.uri[len(watch.source_prefix):], obj.etag, obj.size)
                grouped.setdefault(watch.name, (watch, []))[1].append(image)
            results = [add_to_intake(session, watch, intake_key or f"events:{today().isoformat()}", images)
                       for watch, images in grouped.values()]
        for result in results:  # committed above; now the messages for the workers
            self.stats.jobs_created += result.created
            if result.batch_id:
                self.stats.batches.add(result.batch_id)
            self.dispatcher.jobs(result.enqueued)
        return results

    def delete(self, message: dict) -> None:
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def delete_all(self, messages: list[dict]) -> None:
        """Delete messages ten per request (SQS's batch limit)."""
        for start in range(0, len(messages), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                       for i, m in enumerate(messages[start : start + 10])]
            failed = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries).get("Failed", [])
            for failure in failed:  # its jobs exist: the redelivered message will create nothing
                log.warning("could not delete drained event message: %s", failure.get("Message"))

    def dead_letter(self, message: dict, reason: str) -> None:
        log.error("dead-lettered S3 event message %s: %s", message.get("MessageId"), reason)
        self.stats.dead_lettered += 1
        if self.dead_letter_url:
            self.sqs.send_message(QueueUrl=self.dead_letter_url, MessageBody=message["Body"],
                                  MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:250]}})
        else:
            self.dead_letter_file.parent.mkdir(parents=True, exist_ok=True)
            with Path(self.dead_letter_file).open("a") as handle:
                handle.write(json.dumps({"time": datetime.now(UTC).isoformat(), "reason": reason,
                                         "message_id": message.get("MessageId"), "body": message["Body"]}) + "\n")
        self.delete(message)


def drain_queue(queue_url: str, intake_key: str, dispatcher: Dispatcher) -> list[IntakeResult]:
    """The nightly scan's side of an events queue: every message waiting, into ``intake_key``."""
    return EventConsumer(queue_url, dispatcher).drain(intake_key)
