"""A failed job leaves no objects of its own: what it staged, or wrote before it failed, is deleted.

Called by the worker whose job failed, and by the sweeper for a job whose worker died on its
last attempt. The staging folder is the job's alone (named after its id); its image and set are
deleted only when no live job writes the same output (a newer version of the same source may,
and its objects are its own). Deleting is best effort: a failure is logged, the job stays failed.
"""

from __future__ import annotations

import logging
import uuid

from db import jobs as jobs_table
from db.session import session_scope
from upscaler.processing import discard_job_outputs
from upscaler.storage import Storage

log = logging.getLogger(__name__)


def discard_failed_job(job_id: uuid.UUID, storage: Storage) -> None:
    try:
        with session_scope() as session:
            outputs = jobs_table.failed_outputs(session, job_id)
        if outputs is not None:
            discard_job_outputs(storage, outputs.output_uri, outputs.source_uri, str(job_id),
                                outputs.makes_set, outputs.unclaimed)
    except Exception as exc:
        log.warning("job %s: could not delete what it left: %s", job_id, exc, extra={"job_id": str(job_id)})
