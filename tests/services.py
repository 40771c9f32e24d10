"""Fixtures for the real services: PostgreSQL (own schema), Redis (own db), moto S3 over HTTP,
and `upscaler worker` / `upscaler flower` as separate processes.

PostgreSQL and Redis run on the machine (see the README for the commands that start them);
moto is started here in server mode on a free port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
import redis

PG_DSN = os.environ.get("UPSCALER_TEST_PG", "host=127.0.0.1 port=5432 dbname=test user=postgres")
REDIS_HOST = os.environ.get("UPSCALER_TEST_REDIS", "127.0.0.1:6379")
REDIS_DB = int(os.environ.get("UPSCALER_TEST_REDIS_DB", "11"))  # ours alone; flushed by the tests
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def create_pg_schema(prefix: str = "test") -> tuple[str, str]:
    """A new, empty PostgreSQL schema: its name and a SQLAlchemy URL whose search_path is it."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    params = dict(item.split("=", 1) for item in PG_DSN.split())
    url = (f"postgresql+psycopg://{params['user']}@{params['host']}:{params['port']}/{params['dbname']}"
           f"?options=-csearch_path%3D{schema}")
    return schema, url


def drop_pg_schema(schema: str, url: str) -> None:
    from db import session as db_session

    for (pid, engine_url), engine in list(db_session._engines.items()):
        if engine_url == url:
            engine.dispose()
            del db_session._engines[(pid, engine_url)]
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_url() -> str:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    schema, url = create_pg_schema()
    yield url
    drop_pg_schema(schema, url)


@pytest.fixture
def redis_url() -> str:
    host, port = REDIS_HOST.split(":")
    client = redis.Redis(host=host, port=int(port), db=REDIS_DB)
    client.flushdb()
    yield f"redis://{REDIS_HOST}/{REDIS_DB}"
    client.flushdb()


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str):
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


def service_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for a subprocess of ours: the test's settings, no inherited UPSCALER_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env.update({"UPSCALER_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1"})
    env.update({f"UPSCALER_{k.upper()}": v for k, v in settings.items()})
    return env


class Process:
    """A child process with its output in a log file, stopped (and its group killed) on exit."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.proc = subprocess.Popen(args, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60) -> None:
        def seen() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"process exited ({self.proc.returncode}):\n{self.output()[-3000:]}")
            return text in self.output()
        wait_for(seen, timeout, f"{text!r} in {self.log_path.name}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 20) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def start_worker(env: dict[str, str], log_dir: Path, queues: str = "gpu", name: str | None = None) -> Process:
    node = name or f"test-{uuid.uuid4().hex[:6]}@localhost"
    worker = Process([str(BIN / "upscaler"), "worker", "--queues", queues, "--name", node],
                     env, log_dir / f"worker-{node.split('@')[0]}.log")
    worker.wait_for_output("ready.", timeout=90)
    return worker


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "upscaler"), *args], env=env, capture_output=True, text=True, timeout=timeout)


def submit_with_a_worker(env: dict[str, str], log_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """``upscaler submit ARGS --wait --json`` on a migrated database, one worker process serving it
    for the submission's life (stopped however the submission ends)."""
    assert run_cli(["db", "upgrade"], env).returncode == 0
    worker = start_worker(env, log_dir)
    try:
        return run_cli(["submit", *args, "--wait", "--json"], env)
    finally:
        worker.stop()
