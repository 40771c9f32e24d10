"""Read-only views over batches and jobs for operators (status, progress, failures)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import func, select
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


def summarize(session: Session, batch: Batch, failure_limit: int = 50) -> BatchSummary:
    counts = {status.value: 0 for status in JobStatus}
    for status, count in session.execute(
        select(Job.status, func.count()).where(Job.batch_id == batch.id).group_by(Job.status)
    ):
        counts[JobStatus(status).value] = count
    first, last = session.execute(
        select(func.min(Job.started_at), func.max(Job.finished_at)).where(Job.batch_id == batch.id)
    ).one()
    seconds = (last - first).total_seconds() if first and last else None
    done = counts["succeeded"]
    stage_columns = [getattr(Job, f"{stage}_ms") for stage in STAGES]
    stage_rows = session.execute(
        select(*stage_columns).where(Job.batch_id == batch.id, Job.status == JobStatus.succeeded)
    ).all()
    medians = {stage: _median([row[i] for row in stage_rows]) for i, stage in enumerate(STAGES)}
    failures = [
        {"job_id": str(j.id), "source_uri": j.source_uri, "error_code": j.error_code, "error": j.error_message,
         "attempts": j.attempts}
        for j in session.scalars(select(Job).where(Job.batch_id == batch.id, Job.status == JobStatus.failed)
                                 .order_by(Job.source_uri).limit(failure_limit))
    ]
    succeeded = (Job.batch_id == batch.id, Job.status == JobStatus.succeeded)
    material_sets = session.scalar(select(func.count()).where(*succeeded, Job.maps.is_not(None)))
    warnings = [{"job_id": str(j.id), "source_uri": j.source_uri, "warnings": j.warnings}
                for j in session.scalars(select(Job).where(*succeeded, Job.warnings.is_not(None))
                                         .order_by(Job.source_uri).limit(failure_limit))]
    profiles = [{"profile": profile, "model": model, "detail": detail, "jobs": jobs}
                for profile, model, detail, jobs in session.execute(
                    select(Job.profile, Job.model, Job.detail, func.count())
                    .where(Job.batch_id == batch.id, Job.profile.is_not(None))
                    .group_by(Job.profile, Job.model, Job.detail).order_by(Job.profile, Job.model, Job.detail))]
    return BatchSummary(
        str(batch.id), batch.name, batch.output_prefix, batch.model, batch.created_at.isoformat(),
        counts, sum(counts.values()), seconds,
        round(done / seconds, 3) if seconds and done else None,
        {k: v for k, v in medians.items() if v is not None}, failures, batch.report_uri, material_sets, warnings,
        profiles,
    )


def recent_batches(session: Session, limit: int = 20) -> list[Batch]:
    return list(session.scalars(select(Batch).order_by(Batch.created_at.desc()).limit(limit)))
