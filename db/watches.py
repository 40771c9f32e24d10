"""Watched inboxes and their intake batches (one per watch per intake key, e.g. ``nightly:2026-11-25``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.jobs import insert_ignoring
from db.models import Batch, Watch


def named(session: Session, name: str) -> Watch | None:
    return session.scalar(select(Watch).where(Watch.name == name))


def create(session: Session, name: str, source_prefix: str, output_prefix: str, model: str,
           params: dict[str, Any], events_queue: str | None = None) -> Watch:
    watch = Watch(name=name, source_prefix=source_prefix, output_prefix=output_prefix, model=model, params=params,
                  events_queue=events_queue)
    session.add(watch)
    return watch


def remove(session: Session, name: str) -> bool:
    """Stop watching (its batches and jobs stay); False if there is no such watch."""
    watch = named(session, name)
    if watch is None:
        return False
    session.delete(watch)
    return True


def mark_listed(session: Session, watch_id: uuid.UUID, when: datetime) -> None:
    """A full listing of the watch's prefix completed (started at ``when``)."""
    session.get(Watch, watch_id).listed_at = when


def listed(session: Session, enabled_only: bool = False) -> list[Watch]:
    query = select(Watch).order_by(Watch.name)
    if enabled_only:
        query = query.where(Watch.enabled.is_(True))
    return list(session.scalars(query))


def intake_batch(session: Session, watch: Watch, intake_key: str) -> Batch | None:
    """The watch's batch for ``intake_key``, if it exists."""
    return session.scalar(select(Batch).where(Batch.watch_id == watch.id, Batch.intake_key == intake_key))


def ensure_intake_batch(session: Session, watch: Watch, intake_key: str) -> Batch:
    """The watch's batch for ``intake_key``, created once even when two intakes race (a unique key)."""
    insert_ignoring(session, Batch, [{
        "id": uuid.uuid4(), "name": f"{watch.name} {intake_key}", "source": watch.source_prefix,
        "output_prefix": watch.output_prefix, "model": watch.model, "params": watch.params, "watch_id": watch.id,
        "intake_key": intake_key, "created_at": datetime.now(UTC)}], ["watch_id", "intake_key"])
    return intake_batch(session, watch, intake_key)
