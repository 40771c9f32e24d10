"""Database engines and sessions, created lazily in the process that uses them.

Nothing connects at import time: under Celery's prefork pool each child process creates its
own engine after the fork (an engine's pooled connections must never be shared across a fork).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from upscaler.settings import get_settings

_engines: dict[tuple[int, str], Engine] = {}

# The database could not be reached or dropped the connection mid-statement: worth retrying.
TransientDatabaseError = OperationalError
__all__ = ["DatabaseUnreachableError", "Session", "TransientDatabaseError", "get_engine", "session_scope",
           "unpooled_connection", "unreachable"]


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")      # readers do not block the writer
    cursor.execute("PRAGMA busy_timeout=30000")    # ms to wait for another writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def where(url: str) -> str:
    """The database a URL names, for people: host, port and database, never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {parsed.database}"
    return f"{parsed.host or 'localhost'}:{parsed.port or 5432}/{parsed.database or ''}"


class DatabaseUnreachableError(Exception):
    """The database did not accept a connection or answer a statement in time (or refused)."""


def unreachable(exc: BaseException, url: str | None = None) -> DatabaseUnreachableError:
    """A clear error for a connection or time-out failure: which server, what happened, which
    setting bounds the wait."""
    settings = get_settings()
    first_line = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DatabaseUnreachableError(
        f"database at {where(url or settings.resolved_database_url())} did not answer: {first_line[:300]} "
        f"(waits: UPSCALER_DATABASE_CONNECT_TIMEOUT={settings.database_connect_timeout} s to connect, "
        f"UPSCALER_DATABASE_STATEMENT_TIMEOUT={settings.database_statement_timeout} s per statement)")


def _postgres_connect_args(url: str, statement_timeout: int) -> dict:
    """libpq's connect_timeout, and statement_timeout in the start-up options (kept beside any
    options the URL already has, such as a search_path)."""
    options = make_url(url).query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    if statement_timeout:
        options = f"{options} -c statement_timeout={statement_timeout * 1000}".strip()
    args: dict = {"connect_timeout": get_settings().database_connect_timeout}
    if options:
        args["options"] = options
    return args


def make_engine(url: str, statement_timeout: int | None = None) -> Engine:
    """An engine for ``url``; ``statement_timeout`` (s, 0 = none) defaults to the setting
    (migrations pass 0: building an index on a big table may take longer)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pre_ping: a connection dropped by the server (restart, failover) is replaced, not used.
    if statement_timeout is None:
        statement_timeout = get_settings().database_statement_timeout
    connect_args = _postgres_connect_args(url, statement_timeout) if url.startswith("postgres") else {}
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, connect_args=connect_args)


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
