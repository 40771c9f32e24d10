"""kombu's Redis transport, with one change: a message that cannot be decoded is dropped, not fatal.

Celery's Redis transport decodes each envelope inside the worker's event loop; a list item that
is not JSON, or whose body is not valid base64, raises there and ends the whole worker ("an
unrecoverable error"). Anyone who can write to the broker could stop every worker with one
such item. Here that item is logged (its first bytes, escaped) and dropped, and the worker goes
on consuming. It was already taken off the list, so nothing is re-delivered; a real job's
message is always valid JSON, and a job that somehow lost its message is re-sent by the sweeper.
"""

from __future__ import annotations

import binascii
import logging

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from upscaler.printable import printable

log = logging.getLogger(__name__)
# Undecodable envelopes: what json and base64 raise (JSONDecodeError, binascii.Error are both
# ValueErrors), and a JSON value of the wrong shape (a list or a number instead of an object).
UNDECODABLE = (ValueError, binascii.Error, KeyError, TypeError, AttributeError)


class Channel(kombu_redis.Channel):
    def _brpop_read(self, **options):
        try:
            return super()._brpop_read(**options)
        except UNDECODABLE as exc:
            log.error("dropped an undecodable broker message (%s: %s)", type(exc).__name__, printable(str(exc))[:200])
            return True

    def _get(self, queue):
        try:
            return super()._get(queue)
        except UNDECODABLE as exc:
            log.error("dropped an undecodable broker message from %s (%s: %s)", queue, type(exc).__name__,
                      printable(str(exc))[:200])
            raise kombu_redis.Empty() from exc


class Transport(kombu_redis.Transport):
    Channel = Channel


def install() -> None:
    """Make ``redis://`` and ``rediss://`` broker URLs use this transport in this process."""
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:Transport"
