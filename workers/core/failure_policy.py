"""The one place that decides what a failed attempt comes to, for every runner.

The Celery task of the gpu queue, the in-process worker that serves ``submit --wait`` with no
broker, and training segments (on the training queue or in process) all hand the error they
caught and how many retries came before to :func:`decide`, and do what it says:

- ``retry``: the error may pass (a storage 5xx, a lost database connection). The work goes back
  to ``queued`` and runs again in ``retry_in`` seconds (exponential backoff with full jitter,
  which spreads the retries of many workers after an outage), until the retry budget
  (``UPSCALER_TRANSIENT_RETRIES``) is spent: then it fails with ``transient_exhausted``.
- ``fail``: the error will come again however often the work is retried (a corrupt image, an
  unknown model, bad parameters: a :class:`PermanentError`, with its own code), or it is one
  nobody foresaw (a bug, an out-of-memory: ``internal_error``, and the process goes on serving
  others instead of leaving the work ``running``).

Pure: no I/O, and the jitter comes from the caller's ``random`` (a test passes its own).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from db.session import TransientDatabaseError
from upscaler.errors import ErrorCode, PermanentError, TransientError

# The backoff between retries (seconds): long enough to ride out an S3 brown-out, short enough
# that a batch does not stall.
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120.0
# The in-process worker waits this share of it: someone is waiting at a terminal.
IN_PROCESS_BACKOFF_SCALE = 0.25


class Kind(StrEnum):
    retry = "retry"
    fail = "fail"


@dataclass(frozen=True)
class Decision:
    kind: Kind
    code: ErrorCode
    retry_in: float = 0.0     # seconds, for ``retry``


def decide(error: BaseException, retries: int, retry_limit: int,
           jitter: Callable[[], float] = random.random) -> Decision:
    """What the attempt that raised ``error`` comes to, after ``retries`` retries of the same work."""
    if isinstance(error, PermanentError):
        return Decision(Kind.fail, error.code)
    if isinstance(error, TransientError | TransientDatabaseError):
        code = error.code if isinstance(error, TransientError) else ErrorCode.database_unavailable
        if retries >= retry_limit:
            return Decision(Kind.fail, ErrorCode.transient_exhausted)
        return Decision(Kind.retry, code, jitter() * min(BACKOFF_CAP, BACKOFF_BASE * 2**retries))
    return Decision(Kind.fail, ErrorCode.internal_error)


def describe(error: BaseException, decision: Decision, retries: int) -> str:
    """The message stored beside the decision's code."""
    if decision.code is ErrorCode.transient_exhausted:
        return f"gave up after {retries} retries: {error}"
    if decision.code is ErrorCode.internal_error:
        return f"{type(error).__name__}: {error}"
    return str(error)
