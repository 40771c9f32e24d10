"""Intake without an operator: watched inboxes, scanned nightly, and S3 event notifications.

Both paths add jobs to one batch per watch per day and kind (``nightly:2026-11-25``,
``events:2026-11-25``), a unique key in SQL, and rely on the jobs' idempotency keys (source
URI + ETag + model + parameters + destination): a rerun, a repeated event or an event for an
image the nightly scan already took creates nothing; a replaced image (new ETag) is redone.
A nightly scan sets aside, before anything else, the versions (URI, ETag) that the watch's jobs
already hold, so its cost beyond the listing is that of the new images; an image already taken
is not redone because an operator changed its material's profile since.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from workers.core.dispatch import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class IntakeResult:
    watch: str
    batch_id: uuid.UUID | None
    created: int
    enqueued: list[uuid.UUID]

    def to_json(self) -> dict:
        return {"watch": self.watch, "batch_id": str(self.batch_id) if self.batch_id else None,
                "created": self.created}


def today() -> date:
    return datetime.now(UTC).date()


# -- watches ------------------------------------------------------------------------------------
def add_watch(name: str, source_prefix: str, output_prefix: str, params: JobRequest) -> Watch:
    if not source_prefix.endswith("/"):
        source_prefix += "/"
    refuse_output_inside_sources(output_prefix, [source_prefix])
    refuse_sources_outside_roots([source_prefix], get_settings().source_roots)
    with session_scope() as session:
        if watches.named(session, name) is not None:
            raise PermanentError(f"a watch named {name!r} exists; remove it first", code=ErrorCode.duplicate_watch)
        return watches.create(session, name, source_prefix, output_prefix, params.model, params.to_json())


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
    # A scan that crashed between commit and enqueue left queued jobs: they go out again too
    # (a second message for a job is harmless: only one delivery can claim it).
    queued = jobs_table.queued_in_batch(session, batch.id)
    return IntakeResult(watch.name, batch.id, len(created), queued)


def scan_watch(watch_id: uuid.UUID, night: date | None = None, storage: Storage | None = None) -> IntakeResult:
    storage = storage or Storage()
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
    log.info("nightly scan of %s: %d new jobs", name, result.created, extra={"watch": name})
    return result


def scan_all(dispatcher: Dispatcher, night: date | None = None) -> list[IntakeResult]:
    """What the nightly beat entry runs: every enabled watch, one batch each, its new jobs handed
    to ``dispatcher``."""
    with session_scope() as session:
        watch_ids = [w.id for w in list_watches(session, enabled_only=True)]
    results = []
    for watch_id in watch_ids:
        result = scan_watch(watch_id, night)
        dispatcher.jobs(result.enqueued)
        results.append(result)
    return results
