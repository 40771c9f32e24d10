"""Tables: batches of jobs (one job per source image), typed SQLAlchemy 2.0 models.

The jobs table is the source of truth for what happened to every image; the broker only
carries job ids. Counts per batch are derived from jobs, never stored twice.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = (JobStatus.succeeded, JobStatus.failed, JobStatus.cancelled)
# "wait": for the device; "maps": the PBR material set, when the job asks for one.
STAGES = ("download", "decode", "wait", "infer", "maps", "encode", "upload")


# Collision keys compare byte by byte (SQLite's default; "C" on PostgreSQL), so that the keys
# inside a folder are one range of an index.
_BYTE_ORDER_TEXT = Text().with_variant(Text(collation="C"), "postgresql")


class Watch(Base):
    """A watched inbox: new and changed images under ``source_prefix`` are upscaled nightly
    (and on S3 events) into ``output_prefix``."""

    __tablename__ = "watches"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    source_prefix: Mapped[str] = mapped_column(Text)
    output_prefix: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Batch(Base):
    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("watch_id", "intake_key", name="uq_batches_watch_intake"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)          # what was submitted, for people
    output_prefix: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set for batches made by intake: the watch, and the intake key ("nightly:2026-11-25",
    # "events:2026-11-25") that makes "one batch per inbox per night" a unique constraint.
    watch_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("watches.id", ondelete="SET NULL", name="fk_batches_watch_id"))
    intake_key: Mapped[str | None] = mapped_column(String(64))
    report_uri: Mapped[str | None] = mapped_column(Text)

    jobs: Mapped[list[Job]] = relationship(back_populates="batch")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_batch_status", "batch_id", "status"), Index("ix_jobs_status_lease", "status", "lease_expires_at"),
                      Index("ix_jobs_output_key", "output_key"), Index("ix_jobs_output_set_key", "output_set_key"),
                      # The sweeper's pages of queued jobs (db.jobs.stale_queued): the queued rows only.
                      Index("ix_jobs_queued", "queued_at", "id", postgresql_where=text("status = 'queued'"),
                            sqlite_where=text("status = 'queued'")))

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    batch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"))
    # sha256 of (source URI, ETag, model, parameters, output URI): one job per request, ever.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    source_uri: Mapped[str] = mapped_column(Text)
    source_etag: Mapped[str | None] = mapped_column(String(200))
    source_size: Mapped[int | None] = mapped_column(BigInteger)
    output_uri: Mapped[str] = mapped_column(Text)
    # The output URI as file systems and sync tools compare names (upscaler.storage.collision_key):
    # two jobs of different sources with the same key would write one object.
    output_key: Mapped[str | None] = mapped_column(_BYTE_ORDER_TEXT)
    # The folder of its material set, when it makes one (everything inside it is the job's):
    # upscaler.storage.folder_key, ending with "/".
    output_set_key: Mapped[str | None] = mapped_column(_BYTE_ORDER_TEXT)
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    supplier: Mapped[str | None] = mapped_column(String(200))
    material: Mapped[str | None] = mapped_column(String(100))
    # The material profile the job ran with (upscaler/profiles.py) and the texture detail it set.
    profile: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[float | None] = mapped_column(Float)

    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="job_status", native_enum=False, length=16), default=JobStatus.queued
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    # None is SQL NULL here (not JSON null), so that "has warnings" is IS NOT NULL.
    warnings: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))  # a success with something to say
    maps: Mapped[list[str] | None] = mapped_column(JSON(none_as_null=True))      # files of its material set, if any
    # What the board-ready step did (upscaler/board: crop, period in px and mm, real size, PBR
    # shares, warnings, ms), for jobs that asked for it.
    board: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    input_width: Mapped[int | None] = mapped_column(Integer)
    input_height: Mapped[int | None] = mapped_column(Integer)
    output_width: Mapped[int | None] = mapped_column(Integer)
    output_height: Mapped[int | None] = mapped_column(Integer)
    output_size: Mapped[int | None] = mapped_column(BigInteger)

    queued_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]          # last time a message was sent for it
    lease_expires_at: Mapped[datetime | None]     # while running: renewed by the worker's heartbeat
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    download_ms: Mapped[int | None] = mapped_column(Integer)
    decode_ms: Mapped[int | None] = mapped_column(Integer)
    wait_ms: Mapped[int | None] = mapped_column(Integer)     # decoded, waiting for the device
    infer_ms: Mapped[int | None] = mapped_column(Integer)
    maps_ms: Mapped[int | None] = mapped_column(Integer)
    encode_ms: Mapped[int | None] = mapped_column(Integer)
    upload_ms: Mapped[int | None] = mapped_column(Integer)

    batch: Mapped[Batch] = relationship(back_populates="jobs")


class MaterialProfile(Base):
    """An operator's setting of one material profile (``upscaler profiles set``). Categories
    without a row run the shipped defaults (upscaler/profile_defaults.json, from the benchmark)."""

    __tablename__ = "material_profiles"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    detail: Mapped[float] = mapped_column(Float)
    preserve_color: Mapped[bool]
    seamless: Mapped[bool]
    format: Mapped[str] = mapped_column(String(10))
    # The map controls set (upscaler/materials/controls.py), as one object; NULL: none set.
    map_controls: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class IntakeLock(Base):
    """Rows whose row lock serializes a kind of intake (db.jobs.lock_outputs): ``outputs`` is held
    from the collision check of new jobs to their commit."""

    __tablename__ = "intake_locks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    taken_at: Mapped[datetime | None]


class TrainingRun(Base):
    """One training run (one stage); its segments run as tasks on the ``training`` queue."""

    __tablename__ = "training_runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    preset: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column()        # the full resolved TrainConfig
    status: Mapped[JobStatus] = mapped_column(
        Enum(JobStatus, name="run_status", native_enum=False, length=16), default=JobStatus.queued
    )
    iteration: Mapped[int] = mapped_column(Integer, default=0)
    total_iter: Mapped[int] = mapped_column(Integer)
    segments: Mapped[int] = mapped_column(Integer, default=0)   # tasks that worked on it
    losses: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checkpoint_uri: Mapped[str | None] = mapped_column(Text)
    remote_prefix: Mapped[str | None] = mapped_column(Text)     # where checkpoints are mirrored
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    exported_model: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
