"""One job, start to end: claim, download, decode, infer, encode, upload, record.

Plain Python, no Celery: the Celery task and the embedded in-process worker both call
:func:`run_job` (through workers/core/retry.py). What an error comes to is decided by
workers/core/failure_policy.py and done here: a retry puts the job back to ``queued`` and tells
the caller when to run it again; a failure records the job ``failed`` with the decision's code.

Several jobs may run at once in one process (a GPU worker keeps a few in flight, in threads):
the engine's device turn makes them take the device one at a time, so one job's download and
decode, and another's encode and upload, overlap the current job's inference. Time limits are
therefore kept here, not by Celery (its thread pool has none): past the soft limit a job fails
with ``timeout`` at its next check (between tile batches, between stages and between the maps
of a material set); past the hard
limit its lease keeper calls ``on_overrun``, which for a queue worker ends the process so that
its supervisor restarts it (a thread stuck in native code cannot be stopped any other way).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from db import transitions
from db.session import session_scope
from upscaler.errors import DiskFullError, ErrorCode, JobTimeoutError, TransientError, disk_full_in
from upscaler.jobspec import JobRequest, format_of_uri
from upscaler.monitoring import record_job
from upscaler.processing import decode_image, limits_from, source_folders, upscale_decoded, write_outputs
from upscaler.profiles import category_for, what_ran
from upscaler.settings import get_settings
from upscaler.storage import Storage
from workers.core.failure_policy import Decision, Kind, decide, describe
from workers.core.leftovers import discard_failed_job
from workers.core.morning_report import maybe_write_report

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"   # another delivery claimed or finished it: nothing to do
    retry = "retry"       # released to queued: run it again after the attempt's retry_in


@dataclass(frozen=True)
class Attempt:
    """What one attempt at a job came to; ``retry_in`` (seconds) is set when it must be tried again."""

    outcome: Outcome
    retry_in: float = 0.0
    error: BaseException | None = None


class Deadline:
    """The soft time limit of one job: :meth:`check` raises once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check(self, *_progress) -> None:  # also usable as the engine's progress callback
        if self.elapsed() > self.seconds:
            raise JobTimeoutError(f"over the time limit of {self.seconds:g} s")


class LeaseKeeper:
    """Renews a running job's lease from a background thread while the job is processed, so
    a live worker keeps its job however long inference takes, and a dead one loses it; past
    ``hard_limit`` seconds it stops renewing and calls ``on_overrun`` (once)."""

    def __init__(self, job_id: uuid.UUID, worker: str, lease_seconds: int, hard_limit: float | None = None,
                 on_overrun: Callable[[uuid.UUID], None] | None = None) -> None:
        self.job_id, self.worker, self.lease_seconds = job_id, worker, lease_seconds
        self.hard_limit, self.on_overrun = hard_limit, on_overrun
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def _run(self) -> None:
        started = time.monotonic()
        while True:
            beat = self.lease_seconds / 3
            if self.hard_limit is not None:
                beat = min(beat, max(0.0, started + self.hard_limit - time.monotonic()))
            if self._stop.wait(beat):
                return
            if self.hard_limit is not None and time.monotonic() - started >= self.hard_limit:
                log.critical("job %s: past the hard time limit of %g s", self.job_id, self.hard_limit)
                if self.on_overrun:
                    self.on_overrun(self.job_id)
                return
            try:
                with session_scope() as session:
                    transitions.heartbeat(session, self.job_id, self.worker, self.lease_seconds)
            except Exception as exc:  # the database is away: try again next beat
                log.warning("job %s: lease renewal failed: %s", self.job_id, exc)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_job(job_id: uuid.UUID, engine, storage: Storage, worker: str, retries: int = 0,
            on_overrun: Callable[[uuid.UUID], None] | None = None) -> Attempt:
    """One attempt at the job, ``retries`` retries after its first."""
    settings = get_settings()
    with session_scope() as session:
        job = transitions.claim(session, job_id, worker, settings.job_lease_seconds, settings.max_attempts)
        if job is None:
            log.info("job %s is not queued (done or taken by another delivery): skipped", job_id,
                     extra={"job_id": str(job_id)})
            return Attempt(Outcome.skipped)
        context = {"job_id": str(job_id), "batch_id": str(job.batch_id)}
        source_uri, output_uri, model = job.source_uri, job.output_uri, job.model
        source_etag, params_json, batch_id, material = job.source_etag, job.params, job.batch_id, job.material

    deadline = Deadline(settings.job_soft_time_limit)
    try:
        with LeaseKeeper(job_id, worker, settings.job_lease_seconds, settings.job_time_limit, on_overrun):
            try:
                processed, timings = _process(job_id, engine, storage, source_uri, output_uri, model, source_etag,
                                              params_json, material, settings, deadline)
            except Exception as exc:
                full = disk_full_in(exc) if not isinstance(exc, TransientError) else None
                if full is None:
                    raise
                raise DiskFullError(f"no space left on device writing {full.filename or output_uri}") from exc
    except Exception as exc:
        decision = decide(exc, retries, settings.transient_retries)
        return _settle(job_id, worker, exc, decision, retries, context, storage,
                       lambda: maybe_write_report(batch_id, storage))

    (in_w, in_h), (out_w, out_h) = processed.input_size, processed.output_size
    with session_scope() as session:
        recorded = transitions.succeed(
            session, job_id, worker, input_width=in_w, input_height=in_h, output_width=out_w,
            output_height=out_h, output_size=processed.output_bytes, warnings=processed.warnings or None,
            maps=processed.maps or None, board=processed.board, **{f"{stage}_ms": round(ms) for stage, ms in timings.items()},
        )
    if not recorded:
        return _lost_lease(job_id, context)
    log.info("job %s succeeded in %.0f ms", job_id, sum(timings.values()), extra=context)
    record_job("succeeded", None, timings, in_w * in_h)
    maybe_write_report(batch_id, storage)
    return Attempt(Outcome.succeeded)


def _settle(job_id: uuid.UUID, worker: str, error: Exception, decision: Decision, retries: int, context: dict,
            storage: Storage, on_failed: Callable[[], None]) -> Attempt:
    """Do what ``decision`` says with the job this worker holds."""
    message = describe(error, decision, retries)
    if decision.kind is Kind.retry:
        with session_scope() as session:
            transitions.release(session, job_id, worker, decision.code, message)
        log.warning("job %s: transient error, released (retry %d in %.1f s): %s", job_id, retries + 1,
                    decision.retry_in, error, extra=context)
        return Attempt(Outcome.retry, decision.retry_in, error)
    with session_scope() as session:
        recorded = transitions.fail(session, job_id, decision.code, message, worker)
    if not recorded:
        return _lost_lease(job_id, context)
    discard_failed_job(job_id, storage)  # nothing of a failed job's stays behind
    if decision.code is ErrorCode.internal_error:
        log.error("job %s: unexpected error", job_id, exc_info=error, extra=context)
    else:
        log.info("job %s failed: %s", job_id, message, extra={**context, "error_code": decision.code.value})
    record_job("failed", decision.code, {}, None)
    on_failed()
    return Attempt(Outcome.failed, error=error)


def _lost_lease(job_id: uuid.UUID, context: dict) -> Attempt:
    """The job's lease ran out while it ran (a starved or cut-off worker) and another delivery
    took it over: that one records the outcome; this one's output was the same object."""
    log.warning("job %s: finished after its lease had passed to another delivery; not recorded here",
                job_id, extra=context)
    return Attempt(Outcome.skipped)


def _process(job_id, engine, storage, source_uri, output_uri, model, source_etag, params_json, material, settings,
             deadline):
    """Download (the version the job was made for), decode, infer, then write the outputs (the
    image encoded straight into its upload: S3 parts go out while the encoder is still writing,
    no encoded copy of a big output is ever held); the sizes and the per-stage milliseconds."""
    timings: dict[str, float] = {}
    # The output's format was fixed at submit time, in its key's extension.
    params = JobRequest.from_json(params_json, model).with_fields(format=format_of_uri(output_uri))
    start = time.perf_counter()
    data = storage.get(source_uri, settings.max_input_bytes, if_match=source_etag)
    timings["download"] = (time.perf_counter() - start) * 1000
    deadline.check()
    decoded, timings["decode"] = decode_image(data, source_uri, params, limits_from(settings))
    del data  # the file's bytes are not needed once decoded: a big input's go before inference
    upscaled = upscale_decoded(engine, decoded, params, progress=deadline.check)
    del decoded
    timings.update(upscaled.timings_ms)
    deadline.check()
    # The output key is a pure function of the job: a second delivery overwrites the same object.
    # A material set is staged under the job's id; a local output must not really land in its
    # source's folder (a folder swapped for a symlink since submit).
    written = write_outputs(upscaled, params, storage, output_uri,
                            {"job-id": str(job_id), "model": model, "source-etag": source_etag or ""}, material,
                            stage=str(job_id), keep_out_of=source_folders(source_uri),
                            check=deadline.check)  # the soft limit holds while the maps are made too
    timings.update(written.timings_ms)
    # A material that is no category ran the fallback profile: the job says so beside its result.
    # The fallback blends a second, heavier network: the warning says what ran, not only its name.
    unknown = category_for(material or params.material)[1] if params.profile else None
    if unknown:
        unknown = f"{unknown}; it ran {what_ran(params)}"
    return Sizes(upscaled.input_size, upscaled.output_size, written.output_bytes,
                 ([unknown] if unknown else []) + written.warnings, written.maps, written.board), timings


@dataclass
class Sizes:
    input_size: tuple[int, int]
    output_size: tuple[int, int]
    output_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)
    board: dict | None = None   # the board-ready report (tile, period, real size, PBR check)
