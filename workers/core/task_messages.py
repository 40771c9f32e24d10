"""Task messages of the wrong shape are refused when received, never handed to a pool slot.

Celery's task protocol wants a body ``[args, kwargs, embed]`` (a list, a dict, a dict or null).
A message with a valid task header and any other body (``[1, 2, 3]``, an object, a string) used
to pass the receiving side and fail inside the pool thread before the task's own error handling
ran: never acknowledged, it held a worker slot for good (with late acks), and three of them
stopped a thread worker. Here such a message raises Celery's ``InvalidTaskError`` while it is
received, so the consumer logs it and rejects it without requeueing (dropped, on Redis and
RabbitMQ alike); retrying cannot make it valid.
"""

from __future__ import annotations

import logging

from celery import Task
from celery.exceptions import InvalidTaskError
from celery.worker.request import Request

from upscaler.printable import printable

log = logging.getLogger(__name__)


def shape_problem(body: object) -> str | None:
    """Why a decoded task body is not ``[args, kwargs, embed]``; None when it is."""
    if not isinstance(body, (list, tuple)) or len(body) != 3:
        return f"the body is {type(body).__name__} {printable(repr(body))[:80]}, not [args, kwargs, embed]"
    args, kwargs, embed = body
    if not isinstance(args, (list, tuple)):
        return f"args is {type(args).__name__}, not a list"
    if not isinstance(kwargs, dict):
        return f"kwargs is {type(kwargs).__name__}, not an object"
    if embed is not None and not isinstance(embed, dict):
        return f"embed is {type(embed).__name__}, not an object"
    return None


class CheckedRequest(Request):
    """Celery's request, refusing a body of the wrong shape before anything else reads it."""

    def __init__(self, message, *args, body=None, decoded=False, **kwargs):
        payload = body if decoded else message.payload
        problem = shape_problem(payload)
        if problem is not None:
            headers = message.headers or {}
            log.error("dropped task message %s (%s): %s", printable(str(headers.get("id")))[:40],
                      printable(str(headers.get("task")))[:60], problem)
            raise InvalidTaskError(f"task message of the wrong shape: {problem}")
        super().__init__(message, *args, body=body, decoded=decoded, **kwargs)


class CheckedTask(Task):
    """The base of every task of ours: its messages are checked when received."""

    Request = f"{__name__}:CheckedRequest"
