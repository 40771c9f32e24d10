"""The jobs table as intake, dispatch and recovery read and write it, many jobs at a time.

One job's status change is a transition (db/transitions.py); here: new jobs inserted (skipping
those that exist), which exist, which were never sent, who writes an output, whose lease expired,
which queued jobs may have lost their message, and when messages went out. Lists of keys or ids
go to the database in chunks of ``CHUNK`` (one statement each), whatever their length.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import and_, any_, bindparam, literal, or_, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Base, Batch, IntakeLock, Job, JobStatus, utcnow

# Rows or keys per statement: well under SQLite's 32766 bound parameters and PostgreSQL's 65535.
CHUNK = 500
# Folder ranges per statement on SQLite (live_claims): one index range each.
RANGES = 100
# Jobs whose output object exists or will: a failed or cancelled job wrote nothing that stays.
LIVE = (JobStatus.queued, JobStatus.running, JobStatus.succeeded)

T = TypeVar("T")


@dataclass(slots=True)
class NewJob:
    """A job about to be inserted. Born ``queued``, unless refused first (``db.transitions.refuse``:
    an output key that leaves its prefix, an output another source has)."""

    id: uuid.UUID
    batch_id: uuid.UUID
    source_uri: str
    source_etag: str | None
    source_size: int | None
    output_uri: str
    model: str
    params: dict[str, Any]
    supplier: str | None = None
    material: str | None = None
    profile: str | None = None
    detail: float | None = None
    output_key: str | None = None        # upscaler.storage.collision_key of output_uri
    output_set_key: str | None = None    # upscaler.storage.folder_key of its material set's folder, if any
    idempotency_key: str = ""
    status: JobStatus = JobStatus.queued
    error_code: str | None = None
    error_message: str | None = None
    finished_at: datetime | None = None
    queued_at: datetime = field(default_factory=utcnow)

    @property
    def refused(self) -> bool:
        return self.status is not JobStatus.queued

    def values(self) -> dict[str, Any]:
        """The row's columns (shallow: cheap for a hundred thousand rows)."""
        return {name: getattr(self, name) for name in _NEW_JOB_FIELDS}


_NEW_JOB_FIELDS = tuple(f.name for f in fields(NewJob))


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring(session: Session, model: type[Base], rows: Iterable[dict[str, Any]], conflict: list[str],
                    returning: str | None = None) -> list[Any]:
    """INSERT ... ON CONFLICT (``conflict``) DO NOTHING, on PostgreSQL and SQLite alike; the
    ``returning`` column of the rows inserted (rows another transaction inserted first, even
    concurrently, are skipped). Every row gives the same columns.

    On PostgreSQL the rows go as one array per column (``INSERT ... SELECT FROM unnest(...)``): a
    statement whose text is the same for 10 rows or 5000, parsed once by the driver. A multi-row
    VALUES list has a placeholder per value, and the driver scans that whole text again for each
    statement, which cost more CPU than everything else a 100,000-row submission does in SQL.
    On SQLite, SQLAlchemy's multi-row INSERTs ("insertmanyvalues") of one compiled statement."""
    table = model.__table__
    postgres = session.get_bind().dialect.name == "postgresql"
    inserted: list[Any] = []
    rows = iter(rows)
    while chunk := list(islice(rows, 10 * CHUNK)):  # rows made and held by the driver at once
        if postgres:
            inserted += _insert_unnest(session, table, chunk, conflict, returning)
            continue
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=conflict)
        if returning is None:
            session.execute(statement, chunk)
        else:
            inserted += session.execute(statement.returning(table.c[returning]), chunk).scalars().all()
    return inserted


def _insert_unnest(session: Session, table, rows: list[dict[str, Any]], conflict: list[str],
                   returning: str | None) -> list[Any]:
    """One PostgreSQL INSERT of ``rows`` from one array per column, each cast to its column's
    type; values pass through the column types' own conversions first (JSON, enums)."""
    dialect = session.get_bind().dialect
    # The columns given, then those left to their Python-side defaults (which a plain INSERT
    # would have filled in: SQL knows nothing of them).
    defaulted = [c for c in table.c if c.name not in rows[0] and c.default is not None]
    columns = [table.c[name] for name in rows[0]] + defaulted
    arrays: dict[str, list[Any]] = {}
    selects = []
    for index, column in enumerate(columns):
        convert = column.type.dialect_impl(dialect).bind_processor(dialect)
        if column in defaulted:
            default = column.default
            values = [default.arg if default.is_scalar else default.arg(None) for _ in rows]
        else:
            values = [row[column.name] for row in rows]
        arrays[f"c{index}"] = [convert(v) for v in values] if convert else values
        # The element type without its collation (the column's own applies as the rows go in).
        element = re.sub(r' COLLATE "[^"]+"', "", column.type.compile(dialect))
        selects.append(f"CAST(%(c{index})s AS {element}[])")
    sql = (f"INSERT INTO {table.name} ({', '.join(c.name for c in columns)}) "
           f"SELECT * FROM unnest({', '.join(selects)}) "
           f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING")
    if returning is None:
        session.connection().exec_driver_sql(sql, arrays)
        return []
    return list(session.connection().exec_driver_sql(f"{sql} RETURNING {returning}", arrays).scalars())


def insert_new(session: Session, jobs: Sequence[NewJob]) -> list[uuid.UUID]:
    """Insert the jobs whose idempotency key does not exist yet; the ids inserted."""
    return insert_ignoring(session, Job, (job.values() for job in jobs), ["idempotency_key"], "id")


def _among(session: Session, column, values: Sequence[Any]):
    """``column IN values``: on PostgreSQL one array parameter (``= ANY``), a statement text that
    does not grow with the values (the driver parses it once); elsewhere a list of parameters."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


def _key_chunks(session: Session, keys: Iterable[str]) -> Iterator[Sequence[str]]:
    size = 10 * CHUNK if session.get_bind().dialect.name == "postgresql" else CHUNK
    return chunks(list(keys), size)


def existing_keys(session: Session, keys: Iterable[str], live_only: bool = False) -> set[str]:
    """Which of these idempotency keys have a job (unique index: one index probe per key);
    ``live_only``: a job that is queued, running or succeeded (one that holds its output)."""
    found: set[str] = set()
    for chunk in _key_chunks(session, keys):
        query = select(Job.idempotency_key).where(_among(session, Job.idempotency_key, chunk))
        found |= set(session.scalars(query.where(Job.status.in_(LIVE)) if live_only else query))
    return found


def existing_and_unsent(session: Session, keys: Iterable[str]) -> tuple[set[str], list[uuid.UUID]]:
    """Which of these idempotency keys have a job, and which of those jobs are queued with no
    message ever sent (a submit whose broker was down: resubmitting sends them), in one pass."""
    found: set[str] = set()
    unsent: list[uuid.UUID] = []
    never = and_(Job.status == JobStatus.queued, Job.enqueued_at.is_(None))
    for chunk in _key_chunks(session, keys):
        for key, job_id, waiting in session.execute(select(Job.idempotency_key, Job.id, never).where(
                _among(session, Job.idempotency_key, chunk))):
            found.add(key)
            if waiting:
                unsent.append(job_id)
    return found, unsent


def lock_outputs(session: Session) -> None:
    """Hold the output lock until this transaction ends: taken before the collision check of new
    jobs and held through their insert, so that two intakes racing for the same output keys run
    one after the other, the second seeing the first one's jobs.

    A row lock (UPDATE of the ``outputs`` row) on PostgreSQL; on SQLite the same UPDATE takes the
    database's write lock (``busy_timeout`` bounds the wait). Readers are never blocked."""
    taken = session.execute(update(IntakeLock).execution_options(synchronize_session=False)
                            .where(IntakeLock.name == "outputs").values(taken_at=utcnow())).rowcount
    if taken != 1:
        raise RuntimeError("the intake_locks table has no 'outputs' row: run `upscaler db upgrade`")


def live_claims(session: Session, keys: Iterable[str], folders: Iterable[str],
                ancestors: Iterable[str]) -> list[tuple[str | None, str | None, str]]:
    """(image key, set folder key, source URI) of every live job whose objects may meet these:
    its image key among ``keys``; its set folder among ``folders`` or ``ancestors`` (folders
    holding the new keys); or its image or folder inside one of ``folders`` (a byte range of
    the index: the keys compare byte by byte)."""
    found: set[tuple[str | None, str | None, str]] = set()
    columns = select(Job.output_key, Job.output_set_key, Job.source_uri).where(Job.status.in_(LIVE))
    for chunk in chunks(list(keys)):
        found.update(tuple(row) for row in session.execute(columns.where(Job.output_key.in_(chunk))))
    for chunk in chunks(sorted(set(folders) | set(ancestors))):
        found.update(tuple(row) for row in session.execute(columns.where(Job.output_set_key.in_(chunk))))
    # "/" + 1 is "0": [folder, folder-without-slash + "0") holds exactly the keys starting with
    # folder: an index range per folder and column (the keys compare byte by byte).
    ordered = sorted(set(folders))
    his = [folder[:-1] + "0" for folder in ordered]
    for column in ("output_key", "output_set_key") if ordered else ():
        for (key, folder, source, status) in _keys_in_ranges(session, column, ordered, his):
            if status in LIVE:
                found.add((key, folder, source))
    return sorted(found, key=lambda claim: claim[2])


@dataclass(frozen=True)
class FailedOutputs:
    """Where a failed job may have left objects: its output, whether it makes a material set, and
    whether no live job writes that output (a newer job of the same source, say)."""

    output_uri: str
    source_uri: str
    makes_set: bool
    unclaimed: bool


def failed_outputs(session: Session, job_id: uuid.UUID) -> FailedOutputs | None:
    """A failed job's outputs, for deleting what it left (None unless the job failed)."""
    row = session.execute(select(Job.output_uri, Job.source_uri, Job.output_key, Job.output_set_key, Job.params)
                          .where(Job.id == job_id, Job.status == JobStatus.failed)).first()
    if row is None or not row.output_uri:
        return None
    claimed = session.scalar(select(Job.id).where(Job.output_key == row.output_key, Job.id != job_id,
                                                  Job.status.in_(LIVE)).limit(1))
    return FailedOutputs(row.output_uri, row.source_uri, bool(row.output_set_key or (row.params or {}).get("maps")), claimed is None)


def _keys_in_ranges(session: Session, column: str, los: list[str], his: list[str]) -> Iterator[tuple]:
    """(output_key, output_set_key, source_uri, status) of the jobs whose ``column`` lies in any
    of the ranges [lo, hi). The status is left to the caller: a condition on it can lead SQLite
    to scan the status index instead of the key's."""
    if session.get_bind().dialect.name == "postgresql":
        # One statement for any number of ranges: the bounds as two arrays, each pair an index
        # range scan (in the column's C collation).
        ranges = text(f"SELECT j.output_key, j.output_set_key, j.source_uri, j.status FROM jobs AS j "
                      f"JOIN unnest(CAST(:los AS text[]), CAST(:his AS text[])) AS r(lo, hi) "
                      f'ON j.{column} >= (r.lo COLLATE "C") AND j.{column} < (r.hi COLLATE "C")')
        for lo_chunk, hi_chunk in zip(chunks(los, 10 * CHUNK), chunks(his, 10 * CHUNK)):
            yield from session.execute(ranges, {"los": list(lo_chunk), "his": list(hi_chunk)})
        return
    # SQLite: RANGES ranges per statement, built and compiled once (the last chunk padded).
    key = Job.__table__.c[column]
    inside = select(Job.output_key, Job.output_set_key, Job.source_uri, Job.status).where(
        or_(*[and_(key >= bindparam(f"lo{i}"), key < bindparam(f"hi{i}")) for i in range(RANGES)]))
    for lo_chunk, hi_chunk in zip(chunks(los, RANGES), chunks(his, RANGES)):
        pad = RANGES - len(lo_chunk)
        bounds = {**{f"lo{i}": v for i, v in enumerate([*lo_chunk, *[lo_chunk[-1]] * pad])},
                  **{f"hi{i}": v for i, v in enumerate([*hi_chunk, *[hi_chunk[-1]] * pad])}}
        yield from session.execute(inside, bounds)


def known_versions(session: Session, watch_id: uuid.UUID) -> set[tuple[str, str | None]]:
    """(source URI, ETag) of every job a watch's batches hold: the versions its scans already took."""
    return {(uri, etag) for uri, etag in session.execute(
        select(Job.source_uri, Job.source_etag).join(Batch, Job.batch_id == Batch.id).where(Batch.watch_id == watch_id))}


def unsent_in_batch(session: Session, batch_id: uuid.UUID) -> list[uuid.UUID]:
    """Queued jobs of the batch that no message was ever sent for (an intake that stopped between
    its commit and its messages); a sent one whose message was lost is the sweeper's to re-send."""
    return list(session.scalars(select(Job.id).where(Job.batch_id == batch_id, Job.status == JobStatus.queued,
                                                     Job.enqueued_at.is_(None))))


def expired_leases(session: Session, now: datetime, limit: int) -> list[uuid.UUID]:
    """Running jobs whose lease ran out before ``now`` (their worker died or was cut off)."""
    return list(session.scalars(select(Job.id).where(Job.status == JobStatus.running, Job.lease_expires_at < now)
                                .limit(limit)))


# Where a page of queued jobs ended: (queued_at, id), the order the partial index ix_jobs_queued keeps.
Cursor = tuple[datetime, uuid.UUID]


def stale_queued(session: Session, stale: datetime, after: Cursor | None, limit: int) -> list[tuple[uuid.UUID, Cursor]]:
    """One page of queued jobs whose last message went out before ``stale`` (or never, and queued
    before it), in (queued_at, id) order after ``after``: each id with its cursor. Paging on the
    cursor (never by offset) reaches every such job however many of them the caller skips."""
    query = select(Job.id, Job.queued_at).where(
        Job.status == JobStatus.queued,
        or_(Job.enqueued_at < stale, and_(Job.enqueued_at.is_(None), Job.queued_at < stale)))
    if after is not None:
        queued_at, job_id = after
        query = query.where(tuple_(Job.queued_at, Job.id) > tuple_(literal(queued_at, Job.queued_at.type),
                                                                     literal(job_id, Job.id.type)))
    rows = session.execute(query.order_by(Job.queued_at, Job.id).limit(limit)).all()
    return [(job_id, (queued_at, job_id)) for job_id, queued_at in rows]


def mark_sent(session: Session, job_ids: Iterable[uuid.UUID]) -> None:
    """When their messages went out: the sweeper re-sends those that the broker loses."""
    now = utcnow()
    for chunk in chunks(list(job_ids)):
        session.execute(update(Job).execution_options(synchronize_session=False)
                        .where(Job.id.in_(chunk)).values(enqueued_at=now))


def column_limit(name: str) -> int | None:
    """The most characters the jobs table holds in column ``name`` (None: unlimited text), for
    intake to refuse a longer value with a reason instead of a database error."""
    return getattr(Job.__table__.c[name].type, "length", None)
