"""``upscaler db upgrade``: Alembic migrations, configured from code (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from upscaler.settings import get_settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' is Alembic's interpolation character; URLs may contain it (encoded passwords).
    config.set_main_option("sqlalchemy.url", (url or get_settings().resolved_database_url()).replace("%", "%%"))
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    config = alembic_config(url)
    # Every command that reads the embedded database calls this: at the head already (the usual
    # case), the revision check is all it costs, not a run of Alembic's environment.
    if revision == "head" and current_revision(url) == ScriptDirectory.from_config(config).get_current_head():
        return
    command.upgrade(config, revision)


def current_revision(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from db.session import get_engine

    with get_engine(url).connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest migration this code has (what `upgrade` brings a database to)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
