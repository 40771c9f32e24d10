"""Sending many job messages costs a few broker round trips, not one per message (real Redis)."""

from __future__ import annotations

import json
import uuid

import redis
from redis.connection import Connection

from tests.services import REDIS_DB
from upscaler.settings import get_settings


def test_messages_go_out_in_batches(redis_url: str, monkeypatch, tmp_path) -> None:
    from db.migrate import upgrade
    from workers.core.celery_app import create_app
    from workers.core.dispatch import CeleryDispatcher

    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("UPSCALER_BROKER_URL", redis_url)
    get_settings.cache_clear()
    upgrade()
    job_ids = [uuid.uuid4() for _ in range(1200)]
    writes = []
    original = Connection.send_packed_command
    monkeypatch.setattr(Connection, "send_packed_command",
                        lambda self, *a, **k: writes.append(1) or original(self, *a, **k))
    CeleryDispatcher(create_app(get_settings())).jobs(job_ids)
    monkeypatch.setattr(Connection, "send_packed_command", original)
    get_settings.cache_clear()

    waiting = redis.Redis(db=REDIS_DB).lrange("gpu", 0, -1)
    sent = {json.loads(__import__("base64").b64decode(json.loads(raw)["body"]))[0][0] for raw in waiting}
    assert sent == {str(i) for i in job_ids}
    # 1200 messages in a few dozen writes at most (hundreds per pipelined round trip, plus
    # connecting and declaring), not one each.
    assert len(writes) <= 40, len(writes)


def test_sending_jobs_publishes_no_event_per_message(redis_url: str, monkeypatch, tmp_path) -> None:
    """A catalogue is 10^5 messages: a task-sent event for each would double the broker's traffic
    and a third of the sender's work, for a state ("sent") that SQL already records (enqueued_at)."""
    from db.migrate import upgrade
    from workers.core.celery_app import create_app
    from workers.core.dispatch import CeleryDispatcher

    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("UPSCALER_BROKER_URL", redis_url)
    get_settings.cache_clear()
    upgrade()
    packed: list[bytes] = []
    original = Connection.send_packed_command
    monkeypatch.setattr(Connection, "send_packed_command",
                        lambda self, command, *a, **k: packed.append(b"".join(command) if isinstance(command, list)
                                                                     else command) or original(self, command, *a, **k))
    CeleryDispatcher(create_app(get_settings())).jobs([uuid.uuid4() for _ in range(50)])
    monkeypatch.setattr(Connection, "send_packed_command", original)
    get_settings.cache_clear()

    assert redis.Redis(db=REDIS_DB).llen("gpu") == 50
    assert sum(chunk.count(b"PUBLISH") for chunk in packed) == 0
