"""The nightly scan of every enabled watch (what the beat entry and ``upscaler watch scan`` run):
event queues drained (producer/events.py), prefixes due a full listing listed (producer/intake.py).
Here, above both, so that neither imports the other's caller."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from db.session import session_scope
from producer.events import drain_queue
from producer.intake import IntakeResult, list_watches, listing_due, scan_watch, today

if TYPE_CHECKING:
    from workers.core.dispatch import Dispatcher

log = logging.getLogger(__name__)


def scan_all(dispatcher: Dispatcher, night: date | None = None, full: bool = False) -> list[IntakeResult]:
    """What the nightly beat entry runs: every enabled watch, one batch each, its new jobs handed
    to ``dispatcher``. Event queues are drained first (each once, whichever watches share it),
    then the prefixes due a full listing are listed; ``full`` lists every one."""
    intake_key = f"nightly:{(night or today()).isoformat()}"
    now = datetime.now(UTC)
    with session_scope() as session:
        enabled = list_watches(session, enabled_only=True)
        listed = [w.id for w in enabled if listing_due(w, now, full)]
        drained = {w.name: w.events_queue for w in enabled if w.id not in listed}
    by_watch: dict[str, IntakeResult] = {}
    for queue in dict.fromkeys(drained.values()):
        try:
            for result in drain_queue(queue, intake_key, dispatcher):  # committed and enqueued as it goes
                by_watch[result.watch] = result
        except Exception:  # SQS unreachable, access refused, SQL down: the other watches go on
            # The messages not yet deleted come back after their visibility timeout, for the next
            # night (or are dead-lettered after repeated failures).
            log.exception("draining the event queue %s failed; its messages stay for the next scan", queue)
    results = [by_watch.get(name) or IntakeResult(name, None, 0, [], "events") for name in drained]
    for watch_id in listed:
        result = scan_watch(watch_id, night)
        dispatcher.jobs(result.enqueued)
        results.append(result)
    return results
