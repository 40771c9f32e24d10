"""Intake without an operator: watched inboxes, scanned nightly, and S3 event notifications.

Both paths add jobs to one batch per watch per day and kind (``nightly:2026-11-25``,
``events:2026-11-25``), a unique key in SQL, and rely on the jobs' idempotency keys (source
URI + ETag + model + parameters + destination): a rerun, a repeated event or an event for an
image the nightly scan already took creates nothing; a replaced image (new ETag) is redone.
A nightly scan sets aside, before anything else, the versions (URI, ETag) that the watch's jobs
already hold, so its cost beyond the listing is that of the new images; an image already taken
is not redone because an operator changed its material's profile since.

A watch with an events queue (the SQS queue its bucket's ObjectCreated events go to) is not
listed every night: the night drains the queue, whose events name exactly the images that
arrived, so the night costs the new images and not the inbox. The prefix is listed in full when
the last full listing is older than ``UPSCALER_FULL_LISTING_DAYS`` (or never happened, or
``--full`` asks): the net for events that never came (a notification set up after the images
arrived, a queue purged, messages kept past the queue's retention).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from db import jobs as jobs_table
from db import watches
from db.models import Watch
from db.session import Session, session_scope
from producer.sources import SourceImage, from_listing, refuse_output_inside_sources, refuse_sources_outside_roots
from producer.submit import job_rows
from upscaler.errors import ErrorCode, PermanentError
from upscaler.jobspec import JobRequest
from upscaler.settings import get_settings
from upscaler.storage import Storage

log = logging.getLogger(__name__)


@dataclass
class IntakeResult:
    watch: str
    batch_id: uuid.UUID | None
    created: int
    enqueued: list[uuid.UUID]
    how: str = "listing"     # "listing": the prefix listed in full; "events": its event queue drained

    def to_json(self) -> dict:
        return {"watch": self.watch, "batch_id": str(self.batch_id) if self.batch_id else None,
                "created": self.created, "how": self.how}


def today() -> date:
    return datetime.now(UTC).date()


# -- watches ------------------------------------------------------------------------------------
def add_watch(name: str, source_prefix: str, output_prefix: str, params: JobRequest,
              events_queue: str | None = None) -> Watch:
    if not source_prefix.endswith("/"):
        source_prefix += "/"
    refuse_output_inside_sources(output_prefix, [source_prefix])
    refuse_sources_outside_roots([source_prefix], get_settings().source_roots)
    with session_scope() as session:
        if watches.named(session, name) is not None:
            raise PermanentError(f"a watch named {name!r} exists; remove it first", code=ErrorCode.duplicate_watch)
        return watches.create(session, name, source_prefix, output_prefix, params.model, params.to_json(),
                              events_queue)


def list_watches(session: Session, enabled_only: bool = False) -> list[Watch]:
    return watches.listed(session, enabled_only)


def remove_watch(name: str) -> bool:
    with session_scope() as session:
        return watches.remove(session, name)


# -- batches of intake -------------------------------------------------------------------------------
def add_to_intake(session: Session, watch: Watch, intake_key: str, images: list[SourceImage]) -> IntakeResult:
    """New jobs for ``images`` in the watch's batch for ``intake_key``; queued ids to enqueue."""
    params = JobRequest.from_json(watch.params, watch.model)
    probe_rows, _, _ = job_rows(uuid.uuid4(), images, watch.output_prefix, params, session)

    fresh = {r.idempotency_key for r in probe_rows} - jobs_table.existing_keys(
        session, [r.idempotency_key for r in probe_rows])
    existing_batch = watches.intake_batch(session, watch, intake_key)
    if not fresh and existing_batch is None:
        return IntakeResult(watch.name, None, 0, [])  # nothing new: no empty batch
    batch = existing_batch or watches.ensure_intake_batch(session, watch, intake_key)
    rows = [r for r in probe_rows if r.idempotency_key in fresh]
    for row in rows:
        row.batch_id = batch.id
    created = jobs_table.insert_new(session, rows) if rows else []  # refused ones arrive failed: never queued
    # A scan that crashed between commit and enqueue left queued jobs no message went out for:
    # they go out now too. Not those already sent: every event of a day would send the day's
    # whole batch again.
    unsent = jobs_table.unsent_in_batch(session, batch.id)
    return IntakeResult(watch.name, batch.id, len(created), unsent)


def scan_watch(watch_id: uuid.UUID, night: date | None = None, storage: Storage | None = None) -> IntakeResult:
    """List the watch's prefix in full; its new and changed images join the night's batch."""
    storage = storage or Storage()
    started = datetime.now(UTC)
    with session_scope() as session:
        watch = session.get(Watch, watch_id)
        name, prefix = watch.name, watch.source_prefix
    images = [i for i in from_listing(storage, prefix) if isinstance(i, SourceImage)]
    with session_scope() as session:
        watch = session.get(Watch, watch_id)
        # Only versions this watch has not taken yet go on (one query for all): a night's work
        # is the new and changed images, however many the inbox holds.
        known = jobs_table.known_versions(session, watch.id)
        fresh = [i for i in images if (i.uri, i.etag) not in known]
        result = add_to_intake(session, watch, f"nightly:{(night or today()).isoformat()}", fresh)
        watches.mark_listed(session, watch.id, started)
    log.info("nightly scan of %s: %d new jobs", name, result.created, extra={"watch": name})
    return result


def listing_due(watch: Watch, now: datetime, full: bool = False) -> bool:
    """Whether tonight lists the watch's prefix in full: always without an events queue; with
    one, when asked, never done, or last done ``UPSCALER_FULL_LISTING_DAYS`` ago or more."""
    if full or watch.events_queue is None or watch.listed_at is None:
        return True
    listed_at = watch.listed_at if watch.listed_at.tzinfo else watch.listed_at.replace(tzinfo=UTC)  # SQLite
    return now - listed_at >= timedelta(days=get_settings().full_listing_days)
