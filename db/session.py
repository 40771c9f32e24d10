"""Database engines and sessions, created lazily in the process that uses them.

Nothing connects at import time: under Celery's prefork pool each child process creates its
own engine after the fork (an engine's pooled connections must never be shared across a fork).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from upscaler.settings import get_settings

_engines: dict[tuple[int, str], Engine] = {}

# The database could not be reached or dropped the connection mid-statement: worth retrying.
TransientDatabaseError = OperationalError
__all__ = ["Session", "TransientDatabaseError", "get_engine", "session_scope", "unpooled_connection"]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")      # readers do not block the writer
    cursor.execute("PRAGMA busy_timeout=30000")    # ms to wait for another writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a connection dropped by the server (restart, failover) is replaced, not used.
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def get_engine(url: str | None = None) -> Engine:
    """One engine per process and URL (a forked child gets its own)."""
    url = url or get_settings().resolved_database_url()
    key = (os.getpid(), url)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = make_engine(url)
    return engine


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = sessionmaker(get_engine(url), expire_on_commit=False)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def unpooled_connection(url: str):
    """A DBAPI connection of its own, outside every pool: closing it really ends its server session
    (and the session-level locks it holds)."""
    return create_engine(url, poolclass=NullPool).raw_connection()
