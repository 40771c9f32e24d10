"""The morning report: when an intake batch (nightly or events) has no job left to run, its
summary (counts, failures and reasons, throughput, stage timings) is written as JSON next to
the outputs, ``<output prefix>/_reports/<intake key>.json``, and linked from the batch row.

Called after every job of an intake batch ends; whoever finishes last writes it (a race
writes the same content twice, which is harmless).
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import asdict

from db.models import Batch
from db.queries import summarize
from db.session import session_scope
from upscaler.storage import Storage, safe_join

log = logging.getLogger(__name__)


def maybe_write_report(batch_id: uuid.UUID, storage: Storage) -> str | None:
    with session_scope() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.intake_key is None:
            return None
        summary = summarize(session, batch, failure_limit=1000)
        if not summary.finished:
            return None
        uri = safe_join(batch.output_prefix, f"_reports/{batch.intake_key.replace(':', '-')}.json")
        batch.report_uri = uri
    storage.put(uri, json.dumps(asdict(summary), indent=2, default=str).encode())
    log.info("morning report for batch %s written to %s", batch_id, uri)
    return uri
