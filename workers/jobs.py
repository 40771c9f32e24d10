"""One job, start to end: claim, download, decode, infer, encode, upload, record.

Plain Python, no Celery: the Celery task and the embedded in-process worker both call
:func:`run_job`. Permanent errors fail the job here; transient ones put it back to ``queued``
and are re-raised for the caller to retry with backoff.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from enum import Enum

from db import transitions
from db.session import session_scope
from producer.reports import maybe_write_report
from upscaler.metrics import record_job
from upscaler.errors import PermanentError, TransientError
from upscaler.jobspec import JobParams, format_of_uri
from upscaler.processing import OutputOptions, limits_from, process_image
from upscaler.settings import get_settings
from upscaler.storage import Storage

log = logging.getLogger(__name__)


class Outcome(str, Enum):
    succeeded = "succeeded"
    failed = "failed"
    skipped = "skipped"   # another delivery claimed or finished it: nothing to do


class LeaseKeeper:
    """Renews a running job's lease from a background thread while the job is processed, so
    a live worker keeps its job however long inference takes, and a dead one loses it."""

    def __init__(self, job_id: uuid.UUID, worker: str, lease_seconds: int) -> None:
        self.job_id, self.worker, self.lease_seconds = job_id, worker, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                with session_scope() as session:
                    transitions.heartbeat(session, self.job_id, self.worker, self.lease_seconds)
            except Exception as exc:  # the database is away: try again next beat
                log.warning("job %s: lease renewal failed: %s", self.job_id, exc)

    def __enter__(self) -> "LeaseKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_job(job_id: uuid.UUID, engine, storage: Storage, worker: str) -> Outcome:
    settings = get_settings()
    with session_scope() as session:
        job = transitions.claim(session, job_id, worker, settings.job_lease_seconds, settings.max_attempts)
        if job is None:
            log.info("job %s is not queued (done or taken by another delivery): skipped", job_id,
                     extra={"job_id": str(job_id)})
            return Outcome.skipped
        context = {"job_id": str(job_id), "batch_id": str(job.batch_id)}
        source_uri, output_uri, model = job.source_uri, job.output_uri, job.model
        source_etag, params_json, batch_id = job.source_etag, job.params, job.batch_id

    try:
        with LeaseKeeper(job_id, worker, settings.job_lease_seconds):
            processed, timings = _process(job_id, engine, storage, source_uri, output_uri, model, source_etag,
                                          params_json, settings)
    except TransientError as exc:
        with session_scope() as session:
            transitions.release(session, job_id, worker, exc.code, str(exc))
        log.warning("job %s: transient error, released: %s", job_id, exc, extra=context)
        raise
    except (PermanentError, ValueError) as exc:
        code = getattr(exc, "code", "invalid_parameters")
        with session_scope() as session:
            transitions.fail(session, job_id, code, str(exc), worker)
        log.info("job %s failed: %s", job_id, exc, extra={**context, "error_code": code})
        record_job("failed", code, {}, None)
        maybe_write_report(batch_id, storage)
        return Outcome.failed

    (in_w, in_h), (out_w, out_h) = processed.input_size, processed.output_size
    with session_scope() as session:
        transitions.succeed(
            session, job_id, worker, input_width=in_w, input_height=in_h, output_width=out_w,
            output_height=out_h, output_size=len(processed.data),
            **{f"{stage}_ms": round(ms) for stage, ms in timings.items()},
        )
    log.info("job %s succeeded in %.0f ms", job_id, sum(timings.values()), extra=context)
    record_job("succeeded", None, timings, in_w * in_h)
    maybe_write_report(batch_id, storage)
    return Outcome.succeeded


def _process(job_id, engine, storage, source_uri, output_uri, model, source_etag, params_json, settings):
    """Download, decode, infer, encode, upload; the per-stage milliseconds."""
    timings: dict[str, float] = {}
    params = JobParams.from_json(params_json)
    start = time.perf_counter()
    data = storage.get(source_uri, settings.max_input_bytes)
    timings["download"] = (time.perf_counter() - start) * 1000
    processed = process_image(engine, data, source_uri, params.upscale_options(model),
                              OutputOptions(format_of_uri(output_uri), params.quality), limits_from(settings))
    timings.update(processed.timings_ms)
    start = time.perf_counter()
    # The output key is a pure function of the job: a second delivery overwrites the same object.
    storage.put(output_uri, processed.data, {"job-id": str(job_id), "model": model, "source-etag": source_etag or ""})
    timings["upload"] = (time.perf_counter() - start) * 1000
    return processed, timings


def fail_unexpected(job_id: uuid.UUID, code: str, message: str, worker: str | None = None) -> None:
    with session_scope() as session:
        transitions.fail(session, job_id, code, message, worker)
