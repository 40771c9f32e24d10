"""Broker and database outages under a running batch: Redis restarted empty, PostgreSQL
connections cut. Workers reconnect, the sweeper rebuilds lost messages, nothing is stuck."""

from __future__ import annotations

import collections
import json
import shutil
from pathlib import Path

import psycopg
import redis

from tests.services import PG_DSN, Process, free_port, run_cli, service_env, start_worker, wait_for
from tests.support import texture
from tests.test_worker_faults import statuses
from upscaler.imageio import encode


def start_redis(port: int, log_dir: Path) -> Process:
    server = Process([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port), "--bind", "127.0.0.1",
                      "--save", "", "--appendonly", "no"], {}, log_dir / f"redis-{port}.log")
    wait_for(lambda: _ping(port), 20, "redis")
    return server


def _ping(port: int) -> bool:
    try:
        return redis.Redis(port=port).ping()
    except redis.ConnectionError:
        return False


def test_redis_restart_and_database_disconnects(tmp_path: Path, pg_url: str, s3, s3_endpoint: str,
                                                isolated_data_dir: Path, monkeypatch) -> None:
    port = free_port()
    broker = start_redis(port, tmp_path)
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=f"redis://127.0.0.1:{port}/0",
                      s3_endpoint_url=s3_endpoint, engine_noop="1", engine_noop_delay_ms="150",
                      job_lease_seconds="3", visibility_timeout="5")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    s3.create_bucket(Bucket="outage")
    for i in range(40):
        s3.put_object(Bucket="outage", Key=f"in/{i:02d}.png", Body=encode(texture(4, 4, seed=i), "png"))
    worker = start_worker(env, tmp_path)
    try:
        result = run_cli(["submit", "s3://outage/in/", "--output", "s3://outage/out/", "--json"], env)
        assert json.loads(result.stdout)["created"] == 40
        wait_for(lambda: statuses(pg_url)["succeeded"] >= 8, 60, "the batch under way")

        broker.stop()                      # Redis goes away ...
        wait_for(lambda: "Trying again" in worker.output() or "Cannot connect" in worker.output()
                 or "Connection refused" in worker.output(), 30, "the worker noticing")
        broker = start_redis(port, tmp_path)  # ... and comes back empty (no persistence)

        # PostgreSQL drops every connection of ours mid-batch.
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")

        for key, value in {**env, "UPSCALER_REQUEUE_AFTER": "2"}.items():
            if key.startswith("UPSCALER_") or key.startswith("AWS_"):
                monkeypatch.setenv(key, value)
        from upscaler.settings import get_settings

        get_settings.cache_clear()
        from workers.core.sweeper import sweep

        def finished() -> bool:
            sweep(_celery())
            return statuses(pg_url)["succeeded"] == 40

        wait_for(finished, 180, "the batch after the outages", interval=2)
        assert statuses(pg_url) == collections.Counter({"succeeded": 40})
        assert worker.proc.poll() is None  # the same worker process served through both outages
    finally:
        worker.stop()
        broker.stop()
        monkeypatch.undo()
        from upscaler.settings import get_settings

        get_settings.cache_clear()


def _celery():
    """The dispatcher a worker's sweeper sends with: the Celery app on the configured broker."""
    from upscaler.settings import get_settings
    from workers.core.celery_app import create_app
    from workers.core.dispatch import CeleryDispatcher

    return CeleryDispatcher(create_app(get_settings()))
