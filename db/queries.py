"""Read-only views over batches and jobs for operators (status, progress, failures)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from db.models import STAGES, Batch, Job, JobStatus


@dataclass
class BatchSummary:
    batch_id: str
    name: str
    output_prefix: str
    model: str
    created_at: str
    counts: dict[str, int]
    total: int
    seconds: float | None            # first start to last finish
    images_per_second: float | None
    median_stage_ms: dict[str, float] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)
    report_uri: str | None = None
    material_sets: int = 0            # succeeded jobs that wrote a PBR material set
    warnings: list[dict] = field(default_factory=list)  # succeeded jobs with something to say
    # Which material profiles ran: profile, model, detail and how many jobs (those with a material).
    profiles: list[dict] = field(default_factory=list)
    board_tiles: int = 0              # succeeded jobs whose image the board-ready step made a tile

    @property
    def finished(self) -> bool:
        return self.counts.get("queued", 0) + self.counts.get("running", 0) == 0


class AmbiguousBatchError(LookupError):
    pass


def resolve_batch(session: Session, ref: str) -> Batch | None:
    """A batch by full id or unique id prefix; None if nothing matches, AmbiguousBatchError if
    several batches start with the prefix."""
    try:
        return session.get(Batch, uuid.UUID(ref))
    except ValueError:
        pass
    prefix = ref.replace("-", "").lower()
    if not prefix:
        return None
    matches = [b for b in session.scalars(select(Batch)) if b.id.hex.startswith(prefix)]
    if len(matches) > 1:
        shown = ", ".join(sorted(b.id.hex[:12] for b in matches)[:5])
        raise AmbiguousBatchError(f"batch prefix {ref!r} is ambiguous: {len(matches)} batches start with it "
                                  f"({shown}{', ...' if len(matches) > 5 else ''}); give more of the id")
    return matches[0] if matches else None


def _median(values: list[float]) -> float | None:
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


# Succeeded jobs whose stage timings make the medians: all of them up to this many, else a
# uniform sample of about this many (so that ``status`` reads a bounded number of rows).
MEDIAN_SAMPLE = 20_000


def _stage_medians(session: Session, batch_id: uuid.UUID, succeeded: int) -> dict[str, float]:
    """Median milliseconds per stage over the batch's succeeded jobs, or over a sample of about
    ``MEDIAN_SAMPLE`` of them. Job ids are random (UUID4), so the jobs whose id falls in the first
    ``MEDIAN_SAMPLE / succeeded`` of the id space are a uniform sample, chosen inside the query."""
    where = [Job.batch_id == batch_id, Job.status == JobStatus.succeeded]
    if succeeded > MEDIAN_SAMPLE:
        where.append(Job.id < uuid.UUID(int=(2**128 * MEDIAN_SAMPLE) // succeeded))
    stage_columns = [getattr(Job, f"{stage}_ms") for stage in STAGES]
    rows = session.execute(select(*stage_columns).where(*where)).all()
    medians = {stage: _median([row[i] for row in rows]) for i, stage in enumerate(STAGES)}
    return {stage: value for stage, value in medians.items() if value is not None}


@dataclass
class _Tally:
    """One batch's jobs by status, with their span, material sets, warnings and profiles."""

    counts: dict[str, int]
    first_start: object = None
    last_finish: object = None
    material_sets: int = 0
    with_warnings: int = 0
    with_profile: int = 0
    board_tiles: int = 0              # succeeded jobs the board-ready step made tiles

    @property
    def seconds(self) -> float | None:
        if self.first_start and self.last_finish:
            return (self.last_finish - self.first_start).total_seconds()
        return None


def _tallies(session: Session, batch_ids: list[uuid.UUID]) -> dict[uuid.UUID, _Tally]:
    """Everything ``status`` counts, in one scan of the batches' jobs grouped by status: a
    million-job batch is read once, not once per figure."""
    tallies = {batch_id: _Tally({status.value: 0 for status in JobStatus}) for batch_id in batch_ids}
    succeeded = Job.status == JobStatus.succeeded
    query = (select(Job.batch_id, Job.status, func.count(), func.min(Job.started_at), func.max(Job.finished_at),
                    func.sum(case((and_(succeeded, Job.maps.is_not(None)), 1), else_=0)),
                    func.sum(case((and_(succeeded, Job.warnings.is_not(None)), 1), else_=0)),
                    func.count(Job.profile),
                    func.sum(case((and_(succeeded, Job.board.is_not(None), Job.board["tileable"].as_boolean()), 1),
                                  else_=0)))
             .where(Job.batch_id.in_(batch_ids)).group_by(Job.batch_id, Job.status))
    for batch_id, status, count, first, last, sets, warned, profiled, tiles in session.execute(query):
        tally = tallies[batch_id]
        tally.counts[JobStatus(status).value] = count
        tally.first_start = min(filter(None, (tally.first_start, first)), default=None)
        tally.last_finish = max(filter(None, (tally.last_finish, last)), default=None)
        tally.material_sets += int(sets or 0)
        tally.with_warnings += int(warned or 0)
        tally.with_profile += int(profiled or 0)
        tally.board_tiles += int(tiles or 0)
    return tallies


def _summary(batch: Batch, tally: _Tally, **detail) -> BatchSummary:
    counts, seconds = tally.counts, tally.seconds
    done = counts["succeeded"]
    return BatchSummary(
        str(batch.id), batch.name, batch.output_prefix, batch.model, batch.created_at.isoformat(), counts,
        sum(counts.values()), seconds, round(done / seconds, 3) if seconds and done else None,
        report_uri=batch.report_uri, material_sets=tally.material_sets, **detail)


def summarize(session: Session, batch: Batch, failure_limit: int = 50) -> BatchSummary:
    """Counts, timings, failures and warnings of one batch, in aggregate queries: the rows read
    into memory are bounded (``failure_limit`` failures and warnings, ``MEDIAN_SAMPLE`` timings)
    whatever the batch's size."""
    tally = _tallies(session, [batch.id])[batch.id]
    counts = tally.counts
    failures = [
        {"job_id": str(j.id), "source_uri": j.source_uri, "error_code": j.error_code, "error": j.error_message,
         "attempts": j.attempts}
        for j in session.scalars(select(Job).where(Job.batch_id == batch.id, Job.status == JobStatus.failed)
                                 .order_by(Job.source_uri).limit(failure_limit))
    ] if failure_limit and counts["failed"] else []
    succeeded = (Job.batch_id == batch.id, Job.status == JobStatus.succeeded)
    # Warnings and profiles are read only when the tally found some: no index serves their filters.
    warnings = [{"job_id": str(j.id), "source_uri": j.source_uri, "warnings": j.warnings}
                for j in session.scalars(select(Job).where(*succeeded, Job.warnings.is_not(None))
                                         .order_by(Job.source_uri).limit(failure_limit))
                ] if failure_limit and tally.with_warnings else []
    profiles = [{"profile": profile, "model": model, "detail": detail, "jobs": jobs}
                for profile, model, detail, jobs in session.execute(
                    select(Job.profile, Job.model, Job.detail, func.count())
                    .where(Job.batch_id == batch.id, Job.profile.is_not(None))
                    .group_by(Job.profile, Job.model, Job.detail).order_by(Job.profile, Job.model, Job.detail))
                ] if tally.with_profile else []
    return _summary(batch, tally, median_stage_ms=_stage_medians(session, batch.id, counts["succeeded"]),
                    failures=failures, warnings=warnings, profiles=profiles, board_tiles=tally.board_tiles)


def summarize_recent(session: Session, limit: int = 20) -> list[BatchSummary]:
    """The newest batches, newest first, with their counts, span and rate (one grouped query for
    all of them; no medians, failures, warnings or profiles: ``summarize`` one batch for those)."""
    batches = recent_batches(session, limit)
    tallies = _tallies(session, [b.id for b in batches])
    return [_summary(b, tallies[b.id]) for b in batches]


def recent_batches(session: Session, limit: int = 20) -> list[Batch]:
    return list(session.scalars(select(Batch).order_by(Batch.created_at.desc()).limit(limit)))
