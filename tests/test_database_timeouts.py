"""A database that does not answer fails a command fast, with an error naming the server.

- a port that accepts connections and never answers (a hung server, a half-open proxy):
  ``upscaler status`` ends within UPSCALER_DATABASE_CONNECT_TIMEOUT and a few seconds, exit 75,
  naming host and port, no traceback;
- a statement that runs past UPSCALER_DATABASE_STATEMENT_TIMEOUT is cancelled by PostgreSQL
  (the time-out travels in the connection's start-up options, beside the URL's own).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from db.session import make_engine
from tests.services import run_cli, service_env

pytestmark = [pytest.mark.integration]


@pytest.fixture
def silent_port():
    """A TCP port that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    server.close()


@pytest.mark.slow
def test_status_against_a_server_that_never_answers_fails_fast_naming_it(silent_port: int, tmp_path: Path) -> None:
    env = service_env(tmp_path, database_url=f"postgresql+psycopg://ops:hunter2@127.0.0.1:{silent_port}/jobs",
                      database_connect_timeout="3")
    started = time.monotonic()
    result = run_cli(["status"], env, timeout=40)  # the old code hung here past the time-out
    took = time.monotonic() - started
    said = " ".join(result.stderr.split())
    assert result.returncode == 75, result.stderr[-2000:]
    assert took < 20, took
    assert f"database at 127.0.0.1:{silent_port}/jobs did not answer" in said
    assert "UPSCALER_DATABASE_CONNECT_TIMEOUT=3 s" in said
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr


def test_a_statement_past_the_time_out_is_cancelled(pg_url: str, monkeypatch) -> None:
    from upscaler.settings import get_settings

    monkeypatch.setenv("UPSCALER_DATABASE_STATEMENT_TIMEOUT", "1")
    get_settings.cache_clear()
    try:
        engine = make_engine(pg_url)
        with engine.connect() as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "1s"
            assert connection.execute(text("SELECT current_schema()")).scalar().startswith("test_")  # URL options kept
            started = time.monotonic()
            with pytest.raises(OperationalError, match="statement timeout"):
                connection.execute(text("SELECT pg_sleep(10)"))
            assert time.monotonic() - started < 5
        engine.dispose()
    finally:
        get_settings.cache_clear()
