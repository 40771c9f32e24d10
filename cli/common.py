"""What every command shares: settings, the engine, JSON output and error reporting."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

from upscaler.printable import printable
from upscaler.settings import Settings, get_settings

# Progress bars and human messages go to stderr so that stdout carries only results (--json).
# Messages are not wrapped by rich (soft_wrap): the terminal wraps them, so that a path or an id
# copied from a long line comes out whole.
err_console = Console(stderr=True, soft_wrap=True)
out_console = Console()

JSON_HELP = "Print the result as JSON on stdout (for scripts)."


def settings() -> Settings:
    return get_settings()


def zoo():
    """The model zoo (imported here, not at the top: most commands never load a model, and the
    zoo brings torch, which takes seconds to import)."""
    from upscaler.zoo.registry import ModelZoo

    return ModelZoo(settings().models_dir, settings().model_store_uri)


def dispatcher():
    """Who runs the jobs and training segments this command hands over, chosen here once for the
    whole command line: the broker's queues (``UPSCALER_BROKER_URL``), or, with no broker, this
    very process (the embedded default)."""
    from workers.core.dispatch import CeleryDispatcher, InProcessDispatcher

    if settings().broker_url is None:
        return InProcessDispatcher(run_segment=_run_segment)
    from workers.core.celery_app import create_app

    return CeleryDispatcher(create_app(settings()))


def _run_segment(run_id, worker: str, retries: int):
    from training.service import run_segment  # torch: only once a segment runs here

    return run_segment(run_id, worker, retries)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def shown(text: object) -> str:
    """Outside text (keys, messages quoting them) as the terminal should show it: control
    characters escaped, rich markup taken literally."""
    from rich.markup import escape

    return escape(printable(str(text)))


def fail(message: str):
    """An error line on stderr and exit status 1 (raise the result)."""
    import typer

    err_console.print(f"[red]error:[/] {shown(message)}")
    return typer.Exit(1)


def ensure_schema() -> None:
    """The embedded SQLite database migrates itself; a server database is migrated by operators
    (`upscaler db upgrade`, the deploy's migration step)."""
    if settings().database_url is None:
        from db.migrate import upgrade

        upgrade()
