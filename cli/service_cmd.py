"""Long-running processes: ``upscaler worker``, ``upscaler flower``, and ``upscaler db``."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from cli.common import err_console
from upscaler.settings import get_settings

db_app = typer.Typer(help="The SQL database: migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply the Alembic migrations (deploys run this before starting new workers)."""
    from db.migrate import current_revision, upgrade

    upgrade(revision=revision)
    err_console.print(f"database at revision {current_revision()}")


def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues: gpu and/or training.")] = "gpu",
    jobs_in_flight: Annotated[int | None, typer.Option(
        min=1, help="gpu queue: jobs held at once, in threads, one on the device at a time "
                    "[default: UPSCALER_WORKER_JOBS_IN_FLIGHT, 3].")] = None,
    name: Annotated[str | None, typer.Option(help="Worker node name (default: queue@host).")] = None,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Run a Celery worker on the configured broker: one process per GPU (set CUDA_VISIBLE_DEVICES).

    A gpu-queue worker overlaps its jobs: while one runs on the device, the next downloads and
    decodes and the previous one encodes and uploads. A worker that also serves the training
    queue runs one task at a time in a child process (a training segment needs the whole GPU).
    """
    settings = get_settings()
    if settings.broker_url is None:
        raise typer.BadParameter("UPSCALER_BROKER_URL is not set: with no broker, `upscaler submit` runs "
                                 "the jobs in-process and no worker is needed")
    from workers.core.celery_app import create_app

    app = create_app(settings)

    node = name or f"{queues.replace(',', '+')}@{socket.gethostname()}"
    status = app.start(["worker", "-Q", queues, *pool_arguments(queues, jobs_in_flight or settings.worker_jobs_in_flight),
                        "-n", node, "--loglevel", loglevel, "-E"])
    if status:  # an unrecoverable error: its supervisor must see a failure and restart it
        raise typer.Exit(status)


def pool_arguments(queues: str, jobs_in_flight: int) -> list[str]:
    """Celery pool options for a worker serving ``queues``."""
    names = {q.strip() for q in queues.split(",") if q.strip()}
    unknown = names - {"gpu", "training"}
    if unknown or not names:
        raise typer.BadParameter(f"queues {queues!r}: choose gpu and/or training")
    if "training" in names:
        return ["--pool", "prefork", "--concurrency", "1"]
    return ["--pool", "threads", "--concurrency", str(jobs_in_flight)]


def flower(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 5555,
    address: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    local_only: Annotated[bool, typer.Option("--local-only", help="Allow no authentication (only on 127.0.0.1).")] = False,
) -> None:
    """Flower, the queue monitoring UI, on the same broker, with basic auth from the environment."""
    settings = get_settings()
    if settings.broker_url is None:
        raise typer.BadParameter("UPSCALER_BROKER_URL is not set: there is no queue to monitor")
    auth = settings.flower_basic_auth.get_secret_value() if settings.flower_basic_auth else None
    if auth is None and not (local_only and address in ("127.0.0.1", "localhost", "::1")):
        raise typer.BadParameter("set UPSCALER_FLOWER_BASIC_AUTH=user:password, or pass --local-only "
                                 "with --address 127.0.0.1")
    if auth is not None:
        if "," in auth:
            # Flower splits its basic_auth on commas into several accounts: "ops:Pa,x:y" would let
            # "x:y" in too. Refused rather than encoded, so the value means what it says.
            raise typer.BadParameter("UPSCALER_FLOWER_BASIC_AUTH must not contain a comma (Flower would read "
                                     "the part after it as a second account); choose a password without one")
        user, _, password = auth.partition(":")
        if not user.strip() or not password.strip():
            raise typer.BadParameter("UPSCALER_FLOWER_BASIC_AUTH must look like user:password, "
                                     "with neither part empty")
    from workers.core.celery_app import create_app

    app = create_app(settings)

    argv = ["flower", f"--port={port}", f"--address={address}"]
    if auth:
        # Passed through the environment, not argv, so it does not show in `ps` output.
        os.environ["FLOWER_BASIC_AUTH"] = auth
    app.start(argv=argv)
