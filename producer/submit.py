"""Create a batch of jobs in one transaction, then enqueue their ids. The Python API for scripts.

    from producer.submit import submit
    result = submit(["s3://supplier-bucket/catalogue-2026/"], "s3://boards/upscaled/2026/")
    print(result.batch_id, result.created, result.duplicates)

SQL first, broker second: a job exists (queued) before its message does, so a lost message
can always be rebuilt from the table; the reverse (a message for a job that does not exist)
cannot happen.
"""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Batch, Job, JobStatus, utcnow
from db.session import session_scope
from producer.sources import SourceImage, from_listing, from_manifest
from upscaler.jobspec import JobParams, idempotency_key
from upscaler.storage import Storage, StorageError, safe_join
from upscaler.zoo.registry import DEFAULT_MODEL

INSERT_CHUNK = 500


@dataclass
class SubmitResult:
    batch_id: uuid.UUID | None
    created: int
    duplicates: int
    skipped: list[str] = field(default_factory=list)   # non-image names, not submitted
    job_ids: list[uuid.UUID] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"batch_id": str(self.batch_id) if self.batch_id else None, "created": self.created,
                "duplicates": self.duplicates, "skipped": self.skipped}


def expand_sources(storage: Storage, sources: Iterable[str], manifest: Path | None) -> tuple[list[SourceImage], list[str]]:
    images: list[SourceImage] = []
    skipped: list[str] = []
    streams = [from_listing(storage, source) for source in sources]
    if manifest is not None:
        streams.append(from_manifest(storage, manifest))
    for stream in streams:
        for item in stream:
            (images.append if isinstance(item, SourceImage) else skipped.append)(item)  # type: ignore[arg-type]
    return images, skipped


def job_rows(batch_id: uuid.UUID, images: list[SourceImage], output: str, model: str, params: JobParams) -> list[dict]:
    """Job rows; a source whose output key would leave the output prefix (``..`` segments in an
    S3 key or a manifest's output_key) becomes a job that is failed from the start, with the
    reason, so the rest of the batch goes on and the operator sees why."""
    rows, seen = [], set()
    for image in images:
        relative = image.output_key or posixpath.splitext(image.relative_key)[0] + params.extension(image.uri)
        failure = {}
        try:
            out_uri = safe_join(output, relative)
        except StorageError as exc:
            out_uri = ""
            failure = {"status": JobStatus.failed, "error_code": "unsafe_key", "error_message": f"{image.uri}: {exc}",
                       "finished_at": utcnow()}
        key = idempotency_key(image.uri, image.etag, model, params, out_uri)
        if key in seen:
            continue  # the same source listed twice in one submission
        seen.add(key)
        rows.append({
            "id": uuid.uuid4(), "batch_id": batch_id, "idempotency_key": key, "source_uri": image.uri,
            "source_etag": image.etag, "source_size": image.size, "output_uri": out_uri, "model": model,
            "params": params.to_json(), "supplier": image.supplier, "material": image.material,
            "status": JobStatus.queued, "error_code": None, "error_message": None, "finished_at": None, **failure,
        })
    return rows


def insert_new(session: Session, rows: list[dict]) -> list[uuid.UUID]:
    """Insert, skipping rows whose idempotency key exists (also one inserted concurrently)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    created: list[uuid.UUID] = []
    for start in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[start : start + INSERT_CHUNK]
        statement = insert(Job).values(chunk).on_conflict_do_nothing(index_elements=["idempotency_key"])
        created += session.scalars(statement.returning(Job.id)).all()
    return created


def existing_keys(session: Session, rows: list[dict]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(rows), INSERT_CHUNK):
        keys = [r["idempotency_key"] for r in rows[start : start + INSERT_CHUNK]]
        found |= set(session.scalars(select(Job.idempotency_key).where(Job.idempotency_key.in_(keys))))
    return found


def create_batch(sources: list[str], output: str, *, manifest: Path | None = None, model: str = DEFAULT_MODEL,
                 params: JobParams | None = None, name: str | None = None, dry_run: bool = False,
                 storage: Storage | None = None, database_url: str | None = None) -> SubmitResult:
    """List the sources, then create the batch and its new jobs in one transaction."""
    params = params or JobParams()
    storage = storage or Storage()
    images, skipped = expand_sources(storage, sources, manifest)
    batch_id = uuid.uuid4()
    rows = job_rows(batch_id, images, output, model, params)
    description = ", ".join(sources + ([f"manifest {manifest}"] if manifest else []))
    with session_scope(database_url) as session:
        existing = existing_keys(session, rows)
        new_rows = [r for r in rows if r["idempotency_key"] not in existing]
        if dry_run or not new_rows:
            session.rollback()
            return SubmitResult(None, len(new_rows) if dry_run else 0, len(rows) - len(new_rows), skipped)
        session.add(Batch(id=batch_id, name=name or description[:200], source=description,
                          output_prefix=output, model=model, params=params.to_json()))
        session.flush()
        created = insert_new(session, new_rows)
        failed_at_start = {r["id"] for r in new_rows if r["status"] == JobStatus.failed}
    runnable = [job_id for job_id in created if job_id not in failed_at_start]
    return SubmitResult(batch_id, len(created), len(rows) - len(created), skipped, runnable)
