"""``upscaler upscale``: files and folders in, enlarged images out; no queue involved."""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.checks import EXIT_CANT_CREATE, EXIT_FAILED, EXIT_NO_INPUT, EXIT_USAGE, model_problem, output_problem
from cli.progress import REPORT, loading_message, step
from cli.progress import bars as progress_bars
from cli.common import JSON_HELP, ensure_schema, err_console, print_json, settings, shown, zoo
from cli.job_options import job_options
from upscaler.errors import ErrorCode, UpscalerError

if TYPE_CHECKING:
    from upscaler.jobspec import JobRequest


@dataclass(frozen=True)
class WorkItem:
    source: Path
    relative: Path  # where it goes under the output folder (without extension)
    root_name: str = ""  # the name of the folder it was found in, given on the command line


def collect_inputs(inputs: list[Path]) -> tuple[list[WorkItem], list[str]]:
    """Image files from files and folders (recursively), keeping folder structure; and problems."""
    from upscaler.imageio import INPUT_SUFFIXES

    items, problems = [], []
    for root in inputs:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                if path.suffix.lower() in INPUT_SUFFIXES:
                    items.append(WorkItem(path, path.relative_to(root).with_suffix(""), root.resolve().name))
        elif root.is_file():
            items.append(WorkItem(root, Path(root.stem), root.resolve().parent.name))
        else:
            problems.append(f"{root}: no such file or folder")
    return items, problems


def params_per_item(params: JobRequest, items: list[WorkItem]) -> dict[Path, JobRequest]:
    """Each image's parameters: ``--material``'s profile (as set in the database) fills what was
    not given; with ``auto``, the profile of the category each image's file or folder name gives
    (none where it names none). One warning per material that is not a category."""
    from db.profiles import profiles_in_effect
    from db.session import session_scope
    from upscaler.profiles import params_for_material

    if not params.material:
        return {item.source: params for item in items}
    ensure_schema()
    with session_scope() as session:
        profiles = profiles_in_effect(session)
    made: dict[str, JobRequest] = {}
    warned: set[str] = set()
    for item in items:
        # The path under the given folder, with the folder's own name: never the user's home.
        name = f"{item.root_name}/{item.relative.as_posix()}{item.source.suffix}"
        item_params, warning = params_for_material(params, None, profiles, name=name)
        if warning and warning not in warned:
            warned.add(warning)
            err_console.print(f"[yellow]warning[/] {shown(warning)}")
        made[item.source] = item_params
    return made


@job_options
def upscale(
    inputs: Annotated[list[Path], typer.Argument(help="Image files and/or folders (searched recursively).")],
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="Folder for the results.")],
    params: JobRequest,  # built by @job_options
    precision: Annotated[str | None, typer.Option(help="auto, fp32, fp16 or bf16. [default: settings, auto]")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda. [default: settings, auto]")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Tiles per forward pass. [default: from device]")] = None,
    in_flight: Annotated[int | None, typer.Option(
        min=1, max=16, help="Images in flight at once: one on the device while the others are read, decoded, "
                            "encoded and written. [default: UPSCALER_WORKER_JOBS_IN_FLIGHT, 3]")] = None,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Upscale image files or folders directly, without the queue."""
    from upscaler.engine import Engine
    from upscaler.imageio import EXTENSIONS
    from upscaler.imageio.png import set_png_threads
    from upscaler.in_flight import map_in_flight
    from upscaler.processing import limits_from, upscale_image, write_outputs
    from upscaler.storage import Storage
    from workers.core.runtime import png_threads

    cfg = settings()
    in_flight = in_flight or cfg.worker_jobs_in_flight
    try:
        params = params.with_fields(batch_size=batch_size)
        engine = Engine.from_settings(zoo(), cfg, device, precision)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    items, problems = collect_inputs(inputs)
    _refuse_before_loading(params, items, problems, inputs, output_dir)
    item_params = params_per_item(params, items)
    ran = list(dict.fromkeys(item_params.values()))  # the distinct settings, in the inputs' order
    results: list[dict] = []
    started = time.perf_counter()
    input_megapixels = 0.0
    try:
        for settings_run in ran:
            _refuse_unknown_models(settings_run)
        for settings_run in ran:
            with step(loading_message(settings_run.model), quiet=as_json):
                engine.tile_network(settings_run.engine)  # load (and import / calibrate) once, before the bars start
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    # The worker's policy: where the network runs on the CPU, an encode beside it gets the cores
    # the network's runtime leaves free (UPSCALER_TORCH_THREADS; by default it takes them all).
    set_png_threads(png_threads(cfg.png_threads, engine.device.type == "cpu" and in_flight > 1,
                                len(os.sched_getaffinity(0)), cfg.torch_threads))

    storage = Storage()
    limits = limits_from(cfg)
    with progress_bars(disable=as_json) as bars:

        def upscale_one(item: WorkItem) -> dict:
            """Read, decode, upscale (in the device's turn), encode and write one image; a bad
            image is its own result, an error, and the others go on."""
            tiles_bar = bars.add_task(f"  {item.source.name}", total=None, **{REPORT: False})
            image_start = time.perf_counter()
            try:
                own = item_params[item.source]
                upscaled = upscale_image(
                    engine, item.source.read_bytes(), str(item.source), own, limits,
                    progress=lambda done, total: bars.update(tiles_bar, completed=done, total=total),
                )
                target = output_dir / item.relative.with_suffix(EXTENSIONS[upscaled.format])
                # Encoded in strips into a temporary file, renamed when whole: no encoded copy in memory.
                written = write_outputs(upscaled, own, storage, str(target))
                return {
                    "input": str(item.source), "output": str(target), "material": own.material,
                    "profile": own.profile, "model": own.model,
                    "input_size": list(upscaled.input_size), "output_size": list(upscaled.output_size),
                    "seconds": round(time.perf_counter() - image_start, 3),
                    **({"maps": written.maps} if written.maps else {}),
                    **({"map_controls": own.maps.controls.to_json()}
                       if written.maps and not own.maps.controls.is_default else {}),
                    **({"warnings": written.warnings} if written.warnings else {}),
                    **({"board": written.board} if written.board else {}),
                }
            except UpscalerError as exc:
                return {"input": str(item.source), "error": str(exc), "error_code": exc.code}
            except OSError as exc:  # the source could not be read
                return {"input": str(item.source), "error": f"{item.source}: {exc.strerror or exc}",
                        "error_code": ErrorCode.source_unreadable}
            finally:
                bars.remove_task(tiles_bar)

        images_bar = bars.add_task("images", total=len(items))
        with closing(map_in_flight(upscale_one, items, in_flight, thread_name="upscale")) as finished:
            for result in finished:  # in the inputs' order, whichever finished first
                results.append(result)
                if "error" in result:
                    if not as_json:
                        err_console.print(f"[red]failed[/] {shown(_failure_line(result))}")
                else:
                    width, height = result["input_size"]
                    input_megapixels += width * height / 1e6
                    if not as_json:
                        for warning in result.get("warnings", ()):
                            err_console.print(f"[yellow]warning[/] {shown(warning)}")
                bars.advance(images_bar)

    seconds = time.perf_counter() - started
    failed = [r for r in results if "error" in r]
    first = ran[0]
    network = engine.network(first.model)
    per_settings = [(run, sum(1 for item in items if item_params[item.source] == run)) for run in ran]
    summary = {
        "images": len(results) - len(failed), "failed": len(failed), "seconds": round(seconds, 2),
        "megapixels_per_second": round(input_megapixels / seconds, 4) if seconds else 0.0,
        "model": first.model, "precision": network.precision, "device": str(engine.device),
        "runtime": network.runtime, "detail": first.engine.detail, "profile": first.profile,
        "ran": [{"material": run.material, "profile": run.profile, "model": run.model, "detail": run.engine.detail,
                 **({"map_controls": run.maps.controls.to_json()} if run.makes_maps else {}),
                 "images": count} for run, count in per_settings],
    }
    if as_json:
        print_json({**summary, "results": results})
    else:
        err_console.print(
            f"{summary['images']} images upscaled, {summary['failed']} failed, {seconds:.1f} s, "
            f"{summary['megapixels_per_second']:.3f} input megapixels/s "
            f"({summary['device']}, {summary['runtime']}, {summary['precision']}) -> {output_dir}"
        )
        for run, count in per_settings:
            err_console.print(f"  {count} x {shown(_describe(run))}")
    if any(r.get("error_code") == ErrorCode.output_not_writable for r in failed):
        raise typer.Exit(EXIT_CANT_CREATE)
    if failed:
        raise typer.Exit(EXIT_FAILED)


def _describe(run: JobRequest) -> str:
    """What one set of images ran: the material profile (or none), the model and its detail."""
    model = run.model + (f" + {run.engine.detail:g} {run.engine.detail_model}" if run.engine.detail else "")
    if run.makes_maps and not run.maps.controls.is_default:
        model += f"; map controls {run.maps.controls.describe()}"
    if run.profile:
        return f"{run.profile} profile: {model}"
    return f"{model} (no material named: no profile)" if run.material is None else model


def _refuse_unknown_models(params: JobRequest) -> None:
    """A model name that names no model: a usage error with the closest known name (exit 2)."""
    for name in (params.model, params.engine.detail_model if params.engine.detail else None):
        problem = model_problem(name)
        if problem:
            err_console.print(f"[red]error:[/] {shown(problem)}")
            raise typer.Exit(EXIT_USAGE)


def _failure_line(result: dict) -> str:
    """One failed image and why, naming the input once."""
    error = result["error"]
    return error if result["input"] in error else f"{result['input']}: {error}"


def _refuse_before_loading(params: JobRequest, items: list[WorkItem], problems: list[str], inputs: list[Path],
                           output_dir: Path) -> None:
    """An unknown model, inputs that do not exist, inputs without images and an output folder that
    cannot take the results end the command here, before a model is loaded, each with its reason."""
    _refuse_unknown_models(params)
    for problem in problems:
        err_console.print(f"[red]error:[/] {shown(problem)}")
    if problems:
        raise typer.Exit(EXIT_NO_INPUT)
    if not items:
        from upscaler.image_suffixes import INPUT_SUFFIXES

        err_console.print(f"[red]error:[/] no images in {shown(', '.join(map(str, inputs)))} "
                          f"(looked for {' '.join(sorted(INPUT_SUFFIXES))})")
        raise typer.Exit(EXIT_NO_INPUT)
    problem = output_problem(output_dir, inputs)
    if problem:
        err_console.print(f"[red]error:[/] {shown(problem)}")
        raise typer.Exit(EXIT_CANT_CREATE)
