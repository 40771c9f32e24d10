"""``upscaler train``: dataset preparation, runs on the training queue, status, compare, export."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from cli.common import JSON_HELP, dispatcher, ensure_schema, err_console, fail, out_console, print_json
from upscaler.errors import UpscalerError

app = typer.Typer(help="Two-stage training (Real-ESRNet, then A-ESRGAN) on the training queue.", no_args_is_help=True)


# The validation's texture-fidelity metrics (training.trainer.texture_means), always shown, and
# what tells a run that keeps texture from one that scrubs it.
TEXTURE_ROWS = {
    "detail_ratio": "1 = the truth's fine texture, < 1 smoothed, > 1 invented (geometric mean)",
    "detail_log_error": "mean |ln detail ratio|, 0 = kept",
    "spectral_distance": "high-frequency spectrum, 0 = kept",
}


def _texture_cell(metrics: dict, key: str) -> str:
    value = metrics.get(key)
    return "not measured" if value is None else f"{value:.3f}"


def _run_row(run) -> dict:
    return {"run_id": str(run.id), "name": run.name, "preset": run.preset, "stage": run.stage,
            "status": run.status.value, "iteration": run.iteration, "total_iter": run.total_iter,
            "segments": run.segments, "losses": run.losses, "metrics": run.metrics,
            "checkpoint_uri": run.checkpoint_uri, "worker": run.worker, "error": run.error_message,
            "exported_model": run.exported_model, "created_at": run.created_at.isoformat()}


def _find_run(session, ref: str):
    from db.runs import find

    return find(session, ref)


@app.command("prepare")
def prepare_cmd(
    source: Annotated[str, typer.Argument(help="Folder or S3 prefix of high-resolution material images.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the prepared dataset.")],
    crop: Annotated[int, typer.Option(help="Sub-image size, pixels.")] = 400,
    step: Annotated[int, typer.Option(help="Sub-image step, pixels.")] = 200,
    threshold: Annotated[float | None, typer.Option(help="Texture score below which an image is left out.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Multi-scale GT crops + meta_info.txt, with flat / pattern-less images filtered out by score."""
    from training.prepare import DEFAULT_THRESHOLD, prepare

    try:
        report = prepare(source, output, crop=crop, step=step,
                         threshold=DEFAULT_THRESHOLD if threshold is None else threshold)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json(report.to_json())
    else:
        err_console.print(f"{report.images} images: {report.kept} kept, {len(report.removed)} removed as flat, "
                          f"{len(report.unreadable)} unreadable; {report.crops} crops in {output}")


@app.command("submit")
def submit_cmd(
    preset: Annotated[str, typer.Option("--stage", help="Preset: esrnet, aesrgan-multi, study-training1, study-training2.")],
    data: Annotated[Path, typer.Option(help="A dataset made by `upscaler train prepare`.")],
    config: Annotated[Path | None, typer.Option(help="JSON/YAML overrides of the preset (unknown keys are errors).")] = None,
    init_from: Annotated[str | None, typer.Option(help="Model name, .pth, or run:<id> (stage 2: the stage-1 run).")] = None,
    degradation: Annotated[str | None, typer.Option(
        help="Degradation preset: realesrgan (the default: Real-ESRGAN's second-order chain) or supplier "
             "(one mild pass, like supplier product photos; keeps texture). Stored with the run.")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the run.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Block until the run ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Create a training run and enqueue its first segment on the training queue."""
    from training.config import load_file
    from training.config import preset as make_preset
    from training.service import create_run

    ensure_schema()
    try:
        overrides = load_file(config) if config else {}
        overrides["data"] = str(data.resolve())
        if init_from:
            overrides["init_from"] = init_from
        if degradation:
            overrides.setdefault("degradation", {})["preset"] = degradation
        resolved = make_preset(preset, overrides)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from exc
    run_id = create_run(resolved, preset, name)
    runner = dispatcher()
    runner.training_segment(run_id)   # in process: the whole run, here and now
    if wait and not runner.runs_here:
        _wait(run_id)
    if as_json:
        print_json({"run_id": str(run_id), "config": resolved.to_json()})
    else:
        err_console.print(f"training run {run_id} ({preset}) submitted")


def _wait(run_id: uuid.UUID) -> None:
    from db.runs import wait_until_finished

    wait_until_finished(run_id)



@app.command("status")
def status_cmd(
    run: Annotated[str | None, typer.Argument(help="A run id, id prefix or name; none = all runs.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Stage, status, iteration, latest losses and validation metrics of training runs."""
    from db.runs import newest_first
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        if run:
            found = _find_run(session, run)
            if found is None:
                raise fail(f"no training run {run!r}")
            rows = [_run_row(found)]
        else:
            rows = [_run_row(r) for r in newest_first(session)]
    if as_json:
        print_json(rows[0] if run else rows)
        return
    table = Table("run", "name", "stage", "status", "iteration", "losses", "metrics")
    for r in rows:
        fmt = lambda d: ", ".join(f"{k} {v:.4g}" for k, v in d.items())
        table.add_row(r["run_id"][:8], r["name"], r["stage"], r["status"], f"{r['iteration']}/{r['total_iter']}",
                      fmt(r["losses"]), fmt(r["metrics"]))
    out_console.print(table)


@app.command("compare")
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="First run.")],
    run_b: Annotated[str, typer.Argument(help="Second run.")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Config differences next to the metrics, texture fidelity included: one change at a time is
    the only way to learn."""
    from db.session import session_scope
    from training.config import differences

    ensure_schema()
    with session_scope() as session:
        a, b = _find_run(session, run_a), _find_run(session, run_b)
        if a is None or b is None:
            raise fail(f"no training run {run_a if a is None else run_b!r}")
        diff = differences(a.config, b.config)
        result = {"a": _run_row(a), "b": _run_row(b),
                  "config_differences": [{"key": k, "a": va, "b": vb} for k, va, vb in diff]}
    if as_json:
        print_json(result)
        return
    table = Table(Column("", no_wrap=True), result["a"]["name"], result["b"]["name"])  # keys stay whole
    for d in result["config_differences"]:
        table.add_row(d["key"], str(d["a"]), str(d["b"]))
    metrics_a, metrics_b = result["a"]["metrics"], result["b"]["metrics"]
    for key in sorted((set(metrics_a) | set(metrics_b)) - set(TEXTURE_ROWS)):
        table.add_row(f"[bold]metric[/] {key}", str(metrics_a.get(key)), str(metrics_b.get(key)))
    for key in TEXTURE_ROWS:
        table.add_row(f"[bold]texture[/] {key}", _texture_cell(metrics_a, key), _texture_cell(metrics_b, key))
    table.add_row("[bold]iteration[/]", str(result["a"]["iteration"]), str(result["b"]["iteration"]))
    out_console.print(table)
    err_console.print("texture: " + "; ".join(f"{key} {meaning}" for key, meaning in TEXTURE_ROWS.items()))
    if len(result["config_differences"]) > 1:
        err_console.print(f"[yellow]note:[/] {len(result['config_differences'])} settings differ; "
                          "their effects cannot be told apart")
    if any(d["key"].startswith("degradation.") for d in result["config_differences"]):
        err_console.print("[yellow]note:[/] the runs degrade differently, so they validate on different inputs: "
                          "compare their exported models on one image set (`upscaler compare --ground-truth`)")


@app.command("export")
def export_cmd(
    run: Annotated[str, typer.Argument(help="The run whose EMA generator becomes a model.")],
    name: Annotated[str, typer.Option(help="Model name for `--model`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace a model of that name (else refused).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Publish a run's EMA generator in the zoo (and the shared model store, if configured)."""
    from db.session import session_scope
    from cli.common import settings
    from training.service import export_run
    from upscaler.zoo.catalogue import BUILTIN_MODELS, installed_models

    if name in BUILTIN_MODELS:
        raise fail(f"{name!r} is a built-in model: choose another name")
    if not force and name in installed_models(settings().models_dir):
        raise fail(f"a model named {name!r} exists: choose another name, or --force to replace it")
    ensure_schema()
    with session_scope() as session:
        found = _find_run(session, run)
        if found is None:
            raise fail(f"no training run {run!r}")
        run_id = found.id
    try:
        result = export_run(run_id, name)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        print_json(result)
    else:
        err_console.print(f"exported run {run_id} as model {name} (sha256 {result['sha256'][:16]}...)")
