"""``upscaler submit``, ``status`` and ``retry``: batches of jobs for the workers."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import Progress, TextColumn

from cli.checks import (
    EXIT_CANT_CREATE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_INPUT,
    EXIT_NOT_SENT,
    EXIT_USAGE,
    model_problem,
    output_problem,
)
from cli.progress import bars as progress_bars
from cli.common import JSON_HELP, dispatcher, ensure_schema, err_console, fail, out_console, print_json, shown
from cli.job_options import job_options
from upscaler.errors import UpscalerError

if TYPE_CHECKING:
    from upscaler.jobspec import JobRequest
    from workers.core.dispatch import Dispatcher

POLL_SECONDS = 1.0



def _summary(batch_id: uuid.UUID):
    from db.models import Batch
    from db.queries import summarize
    from db.session import session_scope

    with session_scope() as session:
        return summarize(session, session.get(Batch, batch_id))


def _progress_bar(total: int, show: bool = True) -> tuple[Progress, int]:
    bars = progress_bars(TextColumn("{task.fields[detail]}"), disable=not show)
    return bars, bars.add_task("jobs", total=total, detail="")


def _wait(batch_id: uuid.UUID, total: int, show: bool) -> None:
    """Poll SQL (the source of truth) until no job of the batch is queued or running. Ctrl-C stops
    the waiting at once; the workers go on with the batch."""
    try:
        bars, task = _progress_bar(total, show)
        with bars:
            while True:
                summary = _summary(batch_id)
                done = summary.counts["succeeded"] + summary.counts["failed"] + summary.counts["cancelled"]
                bars.update(task, completed=done, detail=f"{summary.counts['failed']} failed")
                if summary.finished:
                    return
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        _stopped_waiting(batch_id)


def _stopped_waiting(batch_id: uuid.UUID) -> None:
    """Ctrl-C once the batch is in SQL: the workers go on with it (and the sweeper sends what was
    not sent yet); say how to follow or cancel it."""
    counts = _summary(batch_id).counts
    err_console.print(f"stopped waiting: batch {batch_id} goes on on the workers ({counts['running']} running, "
                      f"{counts['queued']} queued, {counts['succeeded']} succeeded, {counts['failed']} failed); "
                      f"follow it with `upscaler status {batch_id}`, stop what has not started with "
                      f"`upscaler cancel {batch_id}`")
    raise typer.Exit(EXIT_INTERRUPTED) from None


def _run_here(runner: Dispatcher, batch_id: uuid.UUID | None, job_ids: list[uuid.UUID], show: bool) -> None:
    """Run the jobs in this process (no broker). The first Ctrl-C lets the running jobs finish and
    starts no other; the second stops at once, putting the running ones back to queued. Either way
    what is left stays queued, and submitting the same sources again runs it."""
    from db import transitions
    from db.session import session_scope
    from workers.core.dispatch import in_process_worker

    stop = threading.Event()
    bars, task = _progress_bar(len(job_ids), show)

    def on_interrupt(_signal, _frame) -> None:
        # Counted in SQL when the jobs are one new batch (else they are earlier jobs, run again).
        counts = _summary(batch_id).counts if batch_id else None
        running = f"{counts['running']} running jobs" if counts else "running jobs"
        queued = f"{counts['queued']} not started" if counts else "those not started"
        if stop.is_set():  # the second Ctrl-C: the running jobs are cut off, back to queued
            with session_scope() as session:
                cut = transitions.release_interrupted(session, job_ids, in_process_worker() + "/",
                                                      "interrupted by Ctrl-C; submitting again runs it")
            sys.stderr.write(f"\nstopped: {cut} running jobs cut off and {queued} are left queued; "
                             "run the same `upscaler submit` again to run them\n")
            sys.stderr.flush()
            os._exit(EXIT_INTERRUPTED)  # now: the job threads cannot be interrupted, only ended with the process
        stop.set()
        # Printed by another thread: the handler may have interrupted this one inside the console.
        message = f"Ctrl-C: finishing the {running}; {queued} will be left queued (Ctrl-C again to stop at once)"
        threading.Thread(target=err_console.print, args=(message,), name="interrupt-notice").start()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        with bars:
            runner.jobs(job_ids, on_done=lambda _id, outcome: outcome != "left" and bars.advance(task), stop=stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    if stop.is_set():
        counts = _summary(batch_id).counts if batch_id else {}
        err_console.print(f"interrupted: {counts.get('succeeded', 0)} succeeded, {counts.get('failed', 0)} failed, "
                          f"{counts.get('queued', 0)} left queued; run the same `upscaler submit` again to run them")
        raise typer.Exit(EXIT_INTERRUPTED)


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
    wait: Annotated[bool, typer.Option("--wait", help="Block with a progress bar until the batch ends; exit 1 if "
                                                     "any job failed.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 66 when a source holds no image (else a warning).")] = False,
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
    _refuse_before_submitting(params, list(sources or []), output)
    try:
        result = create_batch(list(sources or []), output, manifest=manifest, params=params,
                              name=name, dry_run=dry_run, on_collision=on_collision)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    report = result.to_json() | {"dry_run": dry_run}
    runner = dispatcher()
    embedded = runner.runs_here
    if not as_json:
        verb = "would create" if dry_run else "created"
        resent = ("earlier jobs left queued by an interrupted run, run now" if embedded
                  else "earlier jobs never sent, sent now")
        extra = "".join(f", {n} {what}" for n, what in (
            (result.repeated, "listed more than once"), (result.collisions, "output collisions (see status)"),
            (result.resent, resent)) if n)
        refused = f", {len(result.refused)} manifest rows refused" if result.refused else ""
        err_console.print(f"batch {result.batch_id or '-'}: {verb} {result.created} jobs, "
                          f"{result.duplicates} already submitted, {len(result.skipped)} non-image names "
                          f"skipped{refused}{extra}")
        for warning in result.warnings:
            err_console.print(f"[yellow]warning[/] {shown(warning)}")
        for refused_row in result.refused:
            err_console.print(f"[red]refused[/] {shown(str(refused_row))}")
        for source in result.empty_sources:
            err_console.print(f"[yellow]warning[/] {shown(source)}: no images there"
                              f"{' (exit 66: --strict)' if strict else ''}")
    if result.job_ids and embedded and not dry_run:  # the in-process worker runs the jobs now
        _run_here(runner, result.batch_id, result.job_ids, show=not as_json)
    elif result.job_ids and not dry_run:
        try:
            runner.jobs(result.job_ids)
        except KeyboardInterrupt:  # while sending: what was not sent is queued in SQL, for the sweeper
            if not wait:
                raise
            _stopped_waiting(result.batch_id)
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
    if report.get("summary", {}).get("counts", {}).get("failed"):
        raise typer.Exit(EXIT_FAILED)
    if strict and result.empty_sources:
        raise typer.Exit(EXIT_NO_INPUT)


def _refuse_before_submitting(params: JobRequest, sources: list[str], output: str) -> None:
    """An unknown model (exit 2), a local source folder that does not exist (66) and a local output
    folder that cannot take the results (73) are found here, before anything is listed or created,
    not by the worker after the jobs are queued."""
    from upscaler.storage import is_s3

    for name in (params.model, params.engine.detail_model if params.engine.detail else None):
        problem = model_problem(name)
        if problem:
            err_console.print(f"[red]error:[/] {shown(problem)}")
            raise typer.Exit(EXIT_USAGE)
    local = [Path(s) for s in sources if not is_s3(s)]
    missing = [s for s in local if not s.is_dir()]
    for source in missing:
        err_console.print(f"[red]error:[/] {shown(source)}: no such folder")
    if missing:
        raise typer.Exit(EXIT_NO_INPUT)
    problem = None if is_s3(output) else output_problem(Path(output), local)
    if problem:
        err_console.print(f"[red]error:[/] {shown(problem)}")
        raise typer.Exit(EXIT_CANT_CREATE)



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
    if summary.board_tiles:
        err_console.print(f"  {summary.board_tiles} images made board-ready tiles")
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
    # Two lines per batch, not a table: at any width the id stays whole (the terminal wraps the rest).
    for s in summaries:
        rate = f", {s.images_per_second} images/s" if s.images_per_second else ""
        out_console.print(f"{s.batch_id}  {s.created_at[:16].replace('T', ' ')}  {_job_counts(s)}{rate}",
                          soft_wrap=True)
        out_console.print(f"  {shown(s.name)}", soft_wrap=True, highlight=False)


def _job_counts(summary) -> str:
    """'3 queued, 1 running, 10 succeeded, 2 failed': the counts that are not zero."""
    return ", ".join(f"{summary.counts[k]} {k}" for k in ("queued", "running", "succeeded", "failed", "cancelled")
                     if summary.counts.get(k)) or "no jobs"


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


def cancel(
    batch: Annotated[str, typer.Argument(help="The batch (id or unique prefix) whose queued jobs are cancelled.")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Cancel a batch's queued jobs; running jobs finish (their results are kept)."""
    from db import transitions
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        found = _batch(session, batch)
        cancelled = transitions.cancel(session, found.id)
    if as_json:
        print_json({"batch_id": str(found.id), "cancelled": cancelled})
    else:
        err_console.print(f"batch {found.id}: {cancelled} queued jobs cancelled; running jobs finish")
