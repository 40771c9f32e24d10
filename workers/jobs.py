"""One job, start to end: claim, download, decode, infer, encode, upload, record.

Plain Python, no Celery: the Celery task and the embedded in-process worker both call
:func:`run_job`. Permanent errors fail the job here; transient ones put it back to ``queued``
and are re-raised for the caller to retry with backoff.
"""

from __future__ import annotations

import logging
import time
import uuid
from enum import Enum

from db import transitions
from db.session import session_scope
from producer.reports import maybe_write_report
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


def run_job(job_id: uuid.UUID, engine, storage: Storage, worker: str) -> Outcome:
    settings = get_settings()
    with session_scope() as session:
        job = transitions.claim(session, job_id, worker)
        if job is None:
            log.info("job %s is not queued (done or taken by another delivery): skipped", job_id,
                     extra={"job_id": str(job_id)})
            return Outcome.skipped
        context = {"job_id": str(job_id), "batch_id": str(job.batch_id)}
        source_uri, output_uri, model = job.source_uri, job.output_uri, job.model
        source_etag, params_json, batch_id = job.source_etag, job.params, job.batch_id

    timings: dict[str, float] = {}
    try:
        params = JobParams.from_json(params_json)
        start = time.perf_counter()
        data = storage.get(source_uri, settings.max_input_bytes)
        timings["download"] = (time.perf_counter() - start) * 1000
        processed = process_image(engine, data, source_uri, params.upscale_options(model),
                                  OutputOptions(format_of_uri(output_uri), params.quality), limits_from(settings))
        timings.update(processed.timings_ms)
        start = time.perf_counter()
        metadata = {"job-id": str(job_id), "model": model, "source-etag": source_etag or ""}
        storage.put(output_uri, processed.data, metadata)
        timings["upload"] = (time.perf_counter() - start) * 1000
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
    maybe_write_report(batch_id, storage)
    return Outcome.succeeded


def fail_unexpected(job_id: uuid.UUID, code: str, message: str, worker: str | None = None) -> None:
    with session_scope() as session:
        transitions.fail(session, job_id, code, message, worker)
