"""``upscaler submit``, ``status`` and ``retry``: batches of jobs for the workers."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.markup import escape
from rich.table import Table

from upscaler.cli.common import JSON_HELP, ensure_schema, err_console, fail, out_console, print_json
from upscaler.errors import UpscalerError
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD, get_settings
from upscaler.zoo.registry import DEFAULT_MODEL

POLL_SECONDS = 1.0



def _summary(batch_id: uuid.UUID):
    from db.queries import summarize
    from db.models import Batch
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


def submit(
    sources: Annotated[Optional[list[str]], typer.Argument(help="S3 prefixes (s3://bucket/prefix/) and/or local folders.")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="Output prefix: s3://bucket/prefix/ or a local folder.")] = ...,  # type: ignore[assignment]
    manifest: Annotated[Optional[Path], typer.Option(help="CSV with source_uri [, output_key, supplier, material].")] = None,
    model: Annotated[str, typer.Option(help="Model name from the zoo.")] = DEFAULT_MODEL,
    tile: Annotated[int, typer.Option(help="Tile edge in input pixels; 0 = whole image.")] = DEFAULT_TILE,
    tile_pad: Annotated[int, typer.Option(help="Context pixels around each tile.")] = DEFAULT_TILE_PAD,
    outscale: Annotated[float, typer.Option(help="Final scale factor.")] = 4.0,
    fmt: Annotated[str, typer.Option("--format", help="auto (like the source), png, jpeg, webp or tiff.")] = "auto",
    quality: Annotated[int, typer.Option(help="JPEG/WebP quality, 1-100.")] = 95,
    alpha: Annotated[str, typer.Option(help="Alpha channel enlarged by 'bicubic' or by the 'model'.")] = "bicubic",
    seamless: Annotated[bool, typer.Option("--seamless", help="Tileable input -> tileable output.")] = False,
    preserve_color: Annotated[bool, typer.Option("--preserve-color", help="Keep the input's colour.")] = False,
    name: Annotated[Optional[str], typer.Option(help="A name for the batch (default: the sources).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List and count, create nothing.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Block with a progress bar until the batch ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create a batch of upscaling jobs from S3 prefixes, local folders or a CSV manifest."""
    from producer.enqueue import enqueue
    from producer.submit import create_batch
    from upscaler.jobspec import JobParams

    if not sources and manifest is None:
        raise typer.BadParameter("give at least one SOURCE or --manifest")
    try:
        params = JobParams(tile=tile, tile_pad=tile_pad, outscale=outscale, alpha=alpha, format=fmt, quality=quality,
                           seamless=seamless, preserve_color=preserve_color)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    ensure_schema()
    try:
        result = create_batch(list(sources or []), output, manifest=manifest, model=model, params=params,
                              name=name, dry_run=dry_run)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    report = result.to_json() | {"dry_run": dry_run}
    if not as_json:
        verb = "would create" if dry_run else "created"
        err_console.print(f"batch {result.batch_id or '-'}: {verb} {result.created} jobs, "
                          f"{result.duplicates} already submitted, {len(result.skipped)} non-image names skipped")
    if result.batch_id and not dry_run:
        embedded = get_settings().broker_url is None
        if embedded:  # the in-process worker runs the jobs now; show them as they finish
            bars, task = _progress_bar(result.created)
            with bars:
                if as_json:
                    bars.stop()
                enqueue(result.job_ids, on_done=lambda _id, _outcome: bars.advance(task))
        else:
            enqueue(result.job_ids)
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
    err_console.print(f"batch {summary.batch_id} ({summary.name}): {counts or 'no jobs'}{rate}")
    if summary.median_stage_ms:
        stages = ", ".join(f"{k} {v:.0f}" for k, v in summary.median_stage_ms.items())
        err_console.print(f"  median ms per stage: {stages}")
    if summary.report_uri:
        err_console.print(f"  morning report: {summary.report_uri}")
    for failure in summary.failures:
        detail = escape(f"{failure['source_uri']}: [{failure['error_code']}] {failure['error']}")
        err_console.print(f"  [red]failed[/] {detail}")


def status(
    batch: Annotated[Optional[str], typer.Argument(help="A batch id (or unique prefix); none = recent batches.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Counts per status, throughput, and the failures with their reasons."""
    from db.queries import recent_batches, resolve_batch, summarize
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        if batch:
            found = resolve_batch(session, batch)
            if found is None:
                raise fail(f"no batch {batch!r}")
            summaries = [summarize(session, found)]
        else:
            summaries = [summarize(session, b, failure_limit=0) for b in recent_batches(session)]
    if as_json:
        print_json([asdict(s) for s in summaries] if not batch else asdict(summaries[0]))
        return
    if batch:
        _print_summary(summaries[0])
        return
    table = Table("batch", "name", "created", "queued", "running", "succeeded", "failed", "images/s")
    for s in summaries:
        table.add_row(s.batch_id[:8], s.name[:40], s.created_at[:19], *(str(s.counts[k]) for k in
                      ("queued", "running", "succeeded", "failed")), str(s.images_per_second or ""))
    out_console.print(table)


def retry(
    batch: Annotated[str, typer.Argument(help="The batch whose failed jobs go back to the queue.")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Put a batch's failed jobs back to queued and enqueue them again."""
    from db import transitions
    from db.queries import resolve_batch
    from db.session import session_scope
    from producer.enqueue import enqueue

    ensure_schema()
    with session_scope() as session:
        found = resolve_batch(session, batch)
        if found is None:
            raise fail(f"no batch {batch!r}")
        ids = transitions.requeue_failed(session, found.id)
    enqueue(ids)
    if as_json:
        print_json({"batch_id": str(found.id), "requeued": len(ids)})
    else:
        err_console.print(f"batch {found.id}: {len(ids)} failed jobs queued again")
