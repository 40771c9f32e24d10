"""What a task message carries: one id, as a JSON string. Anything else is dropped, not retried."""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger(__name__)


def parse_id(value: object, what: str) -> uuid.UUID | None:
    """The id a message carries; None (logged) for a malformed message, which is then dropped:
    retrying cannot make it valid."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.error("rejected malformed task message: %s %r is not a UUID", what, value)
        return None
