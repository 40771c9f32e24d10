"""``upscaler submit``, ``status`` and ``retry``: batches of jobs for the workers."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.common import JSON_HELP, dispatcher, ensure_schema, err_console, fail, out_console, print_json, shown
from cli.job_options import job_options
from upscaler.errors import UpscalerError

if TYPE_CHECKING:
    from upscaler.jobspec import JobRequest

POLL_SECONDS = 1.0
# submit's exit status when the jobs were saved but the broker did not take their messages
# (EX_TEMPFAIL: try again later; nothing is lost).
EXIT_NOT_SENT = 75



def _summary(batch_id: uuid.UUID):
    from db.models import Batch
    from db.queries import summarize
    from db.session import session_scope

    with session_scope() as session:
        return summarize(session, session.get(Batch, batch_id))


def _progress_bar(total: int) -> tuple[Progress, int]:
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[detail]}"), console=err_console)
    return bars, bars.add_task("jobs", total=total, detail="")


def _wait(batch_id: uuid.UUID, total: int, show: bool) -> None:
    """Poll SQL (the source of truth) until no job of the batch is queued or running."""
    bars, task = _progress_bar(total)
    with bars:
        if not show:
            bars.stop()
        while True:
            summary = _summary(batch_id)
            done = summary.counts["succeeded"] + summary.counts["failed"] + summary.counts["cancelled"]
            bars.update(task, completed=done, detail=f"{summary.counts['failed']} failed")
            if summary.finished:
                return
            time.sleep(POLL_SECONDS)


@job_options
def submit(
    sources: Annotated[list[str] | None, typer.Argument(help="S3 prefixes (s3://bucket/prefix/) and/or local folders.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Output prefix: s3://bucket/prefix/ or a local folder.")] = ...,  # type: ignore[assignment]
    params: JobRequest = None,  # type: ignore[assignment]  # built by @job_options
    manifest: Annotated[Path | None, typer.Option(help="CSV with source_uri [, output_key, supplier, material].")] = None,
    on_collision: Annotated[str, typer.Option(
        help="Two sources whose outputs would be one object: 'fail' the later ones, or give them a "
             "'suffix' (see docs/manual.md).")] = "fail",
    name: Annotated[str | None, typer.Option(help="A name for the batch (default: the sources).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List and count, create nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Block with a progress bar until the batch ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create a batch of upscaling jobs from S3 prefixes, local folders or a CSV manifest."""
    from producer.submit import create_batch
    from workers.core.dispatch import DispatchError

    if not sources and manifest is None:
        raise typer.BadParameter("give at least one SOURCE or --manifest")
    if on_collision not in ("fail", "suffix"):
        raise typer.BadParameter(f"--on-collision {on_collision!r}: choose fail or suffix")
    ensure_schema()
    try:
        result = create_batch(list(sources or []), output, manifest=manifest, params=params,
                              name=name, dry_run=dry_run, on_collision=on_collision)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    report = result.to_json() | {"dry_run": dry_run}
    if not as_json:
        verb = "would create" if dry_run else "created"
        extra = "".join(f", {n} {what}" for n, what in (
            (result.repeated, "listed more than once"), (result.collisions, "output collisions (see status)"),
            (result.resent, "earlier jobs never sent, sent now")) if n)
        err_console.print(f"batch {result.batch_id or '-'}: {verb} {result.created} jobs, "
                          f"{result.duplicates} already submitted, {len(result.skipped)} non-image names skipped{extra}")
        for warning in result.warnings:
            err_console.print(f"[yellow]warning[/] {shown(warning)}")
    runner = dispatcher()
    embedded = runner.runs_here
    if result.job_ids and embedded and not dry_run:  # the in-process worker runs the jobs now
        bars, task = _progress_bar(len(result.job_ids))
        with bars:
            if as_json:
                bars.stop()
            runner.jobs(result.job_ids, on_done=lambda _id, _outcome: bars.advance(task))
    elif result.job_ids and not dry_run:
        try:
            runner.jobs(result.job_ids)
        except DispatchError as exc:
            err_console.print(f"[red]error:[/] batch {result.batch_id or '-'}: {shown(exc)} (by the sweeper; "
                              "submitting again then sends them too)")
            if as_json:
                print_json(report | {"error": str(exc)})
            raise typer.Exit(EXIT_NOT_SENT) from exc
    if result.batch_id and not dry_run:
        if not embedded:
            if wait:
                _wait(result.batch_id, result.created, show=not as_json)
        if wait or embedded:
            summary = _summary(result.batch_id)
            report["summary"] = asdict(summary)
            if not as_json:
                _print_summary(summary)
    if as_json:
        print_json(report)



def _print_summary(summary) -> None:
    counts = ", ".join(f"{v} {k}" for k, v in summary.counts.items() if v)
    rate = f", {summary.images_per_second} images/s" if summary.images_per_second else ""
    err_console.print(f"batch {summary.batch_id} ({shown(summary.name)}): {counts or 'no jobs'}{rate}")
    if summary.median_stage_ms:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in summary.median_stage_ms.items())
        err_console.print(f"  median ms per stage: {stages}")
    if summary.profiles:
        ran = ", ".join(f"{p['profile']} ({p['model']}, detail {p['detail']:g}) x{p['jobs']}" for p in summary.profiles)
        err_console.print(f"  material profiles: {shown(ran)}")
    if summary.material_sets:
        err_console.print(f"  {summary.material_sets} PBR material sets, each in a folder beside its image")
    if summary.report_uri:
        err_console.print(f"  morning report: {summary.report_uri}")
    for noted in summary.warnings:
        err_console.print(f"  [yellow]warning[/] {shown(noted['source_uri'] + ': ' + '; '.join(noted['warnings']))}")
    for failure in summary.failures:
        detail = shown(f"{failure['source_uri']}: [{failure['error_code']}] {failure['error']}")
        err_console.print(f"  [red]failed[/] {detail}")


def _batch(session, ref: str):
    """The batch an id or id prefix names; a usage error if none or several match."""
    from db.queries import AmbiguousBatchError, resolve_batch

    try:
        found = resolve_batch(session, ref)
    except AmbiguousBatchError as exc:
        raise fail(str(exc)) from exc
    if found is None:
        raise fail(f"no batch {ref!r}")
    return found


def status(
    batch: Annotated[str | None, typer.Argument(help="A batch id (or unique prefix); none = recent batches.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Counts per status, throughput, and the failures with their reasons."""
    from db.queries import summarize, summarize_recent
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        if batch:
            found = _batch(session, batch)
            summaries = [summarize(session, found)]
        else:
            summaries = summarize_recent(session)
    if as_json:
        print_json([asdict(s) for s in summaries] if not batch else asdict(summaries[0]))
        return
    if batch:
        _print_summary(summaries[0])
        return
    table = Table("batch", "name", "created", "queued", "running", "succeeded", "failed", "images/s")
    for s in summaries:
        table.add_row(s.batch_id[:8], shown(s.name[:40]), s.created_at[:19], *(str(s.counts[k]) for k in
                      ("queued", "running", "succeeded", "failed")), str(s.images_per_second or ""))
    out_console.print(table)


def retry(
    batch: Annotated[str, typer.Argument(help="The batch whose failed jobs go back to the queue.")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Put a batch's failed jobs back to queued and enqueue them again."""
    from db import transitions
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        found = _batch(session, batch)
        ids = transitions.requeue_failed(session, found.id)
    dispatcher().jobs(ids)
    if as_json:
        print_json({"batch_id": str(found.id), "requeued": len(ids)})
    else:
        err_console.print(f"batch {found.id}: {len(ids)} failed jobs queued again")
