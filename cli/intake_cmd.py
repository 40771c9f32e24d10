"""``upscaler watch`` (inboxes), ``upscaler events consume`` (S3 notifications) and ``upscaler beat``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cli.common import JSON_HELP, dispatcher, ensure_schema, err_console, out_console, print_json
from cli.job_options import job_options
from upscaler.errors import UpscalerError
from upscaler.settings import get_settings

if TYPE_CHECKING:
    from upscaler.jobspec import JobRequest

watch_app = typer.Typer(help="Watched S3 inboxes, upscaled every night (and on S3 events).", no_args_is_help=True)
events_app = typer.Typer(help="S3 event notifications (via SQS) become jobs.", no_args_is_help=True)



@watch_app.command("add")
@job_options
def watch_add(
    name: Annotated[str, typer.Argument(help="A short name for the inbox.")],
    source: Annotated[str, typer.Argument(help="The watched prefix, s3://bucket/inbox/.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where its results go.")],
    params: JobRequest,  # built by @job_options
    events_queue: Annotated[str | None, typer.Option(
        "--events-queue", help="SQS queue URL the bucket sends this inbox's ObjectCreated events to: nights drain "
        "it instead of listing the inbox, which is listed in full every UPSCALER_FULL_LISTING_DAYS.")] = None,
) -> None:
    """Watch an inbox: its new and changed images are upscaled every night."""
    from producer.intake import add_watch

    ensure_schema()
    try:
        add_watch(name, source, output, params, events_queue)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    err_console.print(f"watching {source} -> {output} as {name!r}")


@watch_app.command("list")
def watch_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """The watched inboxes."""
    from db.session import session_scope
    from producer.intake import list_watches

    ensure_schema()
    with session_scope() as session:
        rows = [{"name": w.name, "source": w.source_prefix, "output": w.output_prefix, "model": w.model,
                 "params": w.params, "enabled": w.enabled, "events_queue": w.events_queue,
                 "listed_at": w.listed_at.isoformat() if w.listed_at else None} for w in list_watches(session)]
    if as_json:
        print_json(rows)
        return
    table = Table("name", "source", "output", "model", "enabled")
    for r in rows:
        table.add_row(r["name"], r["source"], r["output"], r["model"], str(r["enabled"]))
    out_console.print(table)


@watch_app.command("remove")
def watch_remove(name: Annotated[str, typer.Argument(help="The watch to stop.")]) -> None:
    """Stop watching an inbox (its batches and jobs stay)."""
    from producer.intake import remove_watch

    ensure_schema()
    if not remove_watch(name):
        err_console.print(f"[red]error:[/] no watch named {name!r}")
        raise typer.Exit(1)
    err_console.print(f"removed watch {name!r}")


@watch_app.command("scan")
def watch_scan(
    full: Annotated[bool, typer.Option("--full", help="List every inbox in full, event queue or not.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Run the nightly scan now (what the scheduler does at UPSCALER_NIGHTLY_CRON)."""
    from producer.nightly import scan_all

    ensure_schema()
    results = [r.to_json() for r in scan_all(dispatcher(), full=full)]
    if as_json:
        print_json(results)
    else:
        for r in results:
            how = "event queue drained" if r["how"] == "events" else "listed in full"
            err_console.print(f"{r['watch']}: {r['created']} new jobs (batch {r['batch_id'] or '-'}; {how})")


@events_app.command("consume")
def events_consume(
    queue_url: Annotated[str, typer.Option(help="The SQS queue receiving the bucket's ObjectCreated events.")],
    dead_letter_url: Annotated[str | None, typer.Option(help="SQS queue for bad messages (default: a file in the data dir).")] = None,
    max_receives: Annotated[int, typer.Option(help="Deliveries before a failing message is dead-lettered.")] = 5,
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Stop when the queue is empty (else run forever).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Long-poll the queue; create jobs for new images in watched inboxes."""
    from producer.events import EventConsumer

    ensure_schema()
    consumer = EventConsumer(queue_url, dispatcher(), dead_letter_url=dead_letter_url, max_receives=max_receives)
    stats = consumer.run(wait_seconds=1 if until_idle else 20, stop_when_idle=until_idle)
    result = {"messages": stats.messages, "jobs_created": stats.jobs_created, "ignored": stats.ignored,
              "dead_lettered": stats.dead_lettered, "batches": sorted(str(b) for b in stats.batches)}
    if as_json:
        print_json(result)
    else:
        err_console.print(f"{result['messages']} messages: {result['jobs_created']} jobs created, "
                          f"{result['ignored']} ignored, {result['dead_lettered']} dead-lettered")


def beat(loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO") -> None:
    """The scheduler (nightly scans at UPSCALER_NIGHTLY_CRON); only one is ever active."""
    settings = get_settings()
    if settings.broker_url is None:
        raise typer.BadParameter("UPSCALER_BROKER_URL is not set: the scheduler sends tasks to the broker")
    from workers.core.celery_app import create_app
    from workers.core.locks import SchedulerLock

    app = create_app(settings)
    lock = SchedulerLock()
    lock.acquire()
    schedule = settings.data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    try:
        app.start(["beat", "--schedule", str(schedule), "--loglevel", loglevel])
    finally:
        lock.release()
