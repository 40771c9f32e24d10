"""The ``training`` queue: one task per training segment, chained until the run is done."""

from __future__ import annotations

import logging

from celery import shared_task

from workers.core import runtime
from workers.core.celery_app import TRAIN_SEGMENT_TASK
from workers.core.dispatch import CeleryDispatcher
from workers.core.messages import parse_id

log = logging.getLogger(__name__)


# No time limit: a segment's length is set by its iteration count (segment_iters), and the
# lease, not a timer, tells a dead segment from a slow one.
@shared_task(name=TRAIN_SEGMENT_TASK, bind=True, max_retries=None)
def train_segment(self, run_id: str) -> str:
    from training.service import run_segment

    run_uuid = parse_id(run_id, "training run id")
    if run_uuid is None:
        return "rejected"
    worker = f"{self.request.hostname or 'worker'}:{runtime.worker_name().split(':')[-1]}"
    segment = run_segment(run_uuid, worker, self.request.retries)
    if segment.outcome == "retry":
        raise self.retry(countdown=segment.retry_in)
    if segment.outcome == "continue":
        # SQL already says queued: a lost message can be resent from there
        CeleryDispatcher(self.app).training_segment(run_uuid)
    return segment.outcome
