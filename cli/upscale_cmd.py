"""``upscaler upscale``: files and folders in, enlarged images out; no queue involved."""

from __future__ import annotations

import os
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.common import JSON_HELP, ensure_schema, err_console, print_json, settings, shown, zoo
from cli.job_options import job_options
from upscaler.errors import UpscalerError

if TYPE_CHECKING:
    from upscaler.jobspec import JobRequest


@dataclass(frozen=True)
class WorkItem:
    source: Path
    relative: Path  # where it goes under the output folder (without extension)


def collect_inputs(inputs: list[Path]) -> tuple[list[WorkItem], list[str]]:
    """Image files from files and folders (recursively), keeping folder structure; and problems."""
    from upscaler.imageio import INPUT_SUFFIXES

    items, problems = [], []
    for root in inputs:
        if root.is_dir():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                if path.suffix.lower() in INPUT_SUFFIXES:
                    items.append(WorkItem(path, path.relative_to(root).with_suffix("")))
        elif root.is_file():
            items.append(WorkItem(root, Path(root.stem)))
        else:
            problems.append(f"{root}: no such file or folder")
    return items, problems


def with_material_profile(params: JobRequest) -> JobRequest:
    """``--material``: its category's profile (as set in the database) fills what was not given."""
    from db.profiles import profiles_in_effect
    from db.session import session_scope
    from upscaler.profiles import params_for_material

    ensure_schema()
    with session_scope() as session:
        profiles = profiles_in_effect(session)
    params, warning = params_for_material(params, None, profiles)
    if warning:
        err_console.print(f"[yellow]warning[/] {shown(warning)}")
    return params


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
    if params.material:
        params = with_material_profile(params)
    model = params.model
    in_flight = in_flight or cfg.worker_jobs_in_flight
    try:
        params = params.with_fields(batch_size=batch_size)
        engine = Engine.from_settings(zoo(), cfg, device, precision)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    items, problems = collect_inputs(inputs)
    results = [{"input": problem.split(":")[0], "error": problem} for problem in problems]
    started = time.perf_counter()
    input_megapixels = 0.0
    try:
        engine.tile_network(params.engine)  # load (and import / calibrate) once, before the bars start
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    # The worker's policy: where the network runs on the CPU, an encode beside it gets the cores
    # the network's runtime leaves free (UPSCALER_TORCH_THREADS; by default it takes them all).
    set_png_threads(png_threads(cfg.png_threads, engine.device.type == "cpu" and in_flight > 1,
                                len(os.sched_getaffinity(0)), cfg.torch_threads))

    storage = Storage()
    limits = limits_from(cfg)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, disable=as_json, transient=False) as bars:

        def upscale_one(item: WorkItem) -> dict:
            """Read, decode, upscale (in the device's turn), encode and write one image; a bad
            image is its own result, an error, and the others go on."""
            tiles_bar = bars.add_task(f"  {item.source.name}", total=None)
            image_start = time.perf_counter()
            try:
                upscaled = upscale_image(
                    engine, item.source.read_bytes(), str(item.source), params, limits,
                    progress=lambda done, total: bars.update(tiles_bar, completed=done, total=total),
                )
                target = output_dir / item.relative.with_suffix(EXTENSIONS[upscaled.format])
                # Encoded in strips into a temporary file, renamed when whole: no encoded copy in memory.
                written = write_outputs(upscaled, params, storage, str(target))
                return {
                    "input": str(item.source), "output": str(target),
                    "input_size": list(upscaled.input_size), "output_size": list(upscaled.output_size),
                    "seconds": round(time.perf_counter() - image_start, 3),
                    **({"maps": written.maps} if written.maps else {}),
                    **({"warnings": written.warnings} if written.warnings else {}),
                }
            except (UpscalerError, OSError) as exc:
                return {"input": str(item.source), "error": str(exc)}
            finally:
                bars.remove_task(tiles_bar)

        images_bar = bars.add_task("images", total=len(items))
        with closing(map_in_flight(upscale_one, items, in_flight, thread_name="upscale")) as finished:
            for result in finished:  # in the inputs' order, whichever finished first
                results.append(result)
                if "error" in result:
                    if not as_json:
                        err_console.print(f"[red]skipped[/] {shown(result['error'])}")
                else:
                    width, height = result["input_size"]
                    input_megapixels += width * height / 1e6
                    if not as_json:
                        for warning in result.get("warnings", ()):
                            err_console.print(f"[yellow]warning[/] {shown(warning)}")
                bars.advance(images_bar)

    seconds = time.perf_counter() - started
    failed = [r for r in results if "error" in r]
    network = engine.network(model)
    summary = {
        "images": len(results) - len(failed), "failed": len(failed), "seconds": round(seconds, 2),
        "megapixels_per_second": round(input_megapixels / seconds, 4) if seconds else 0.0,
        "model": model, "precision": network.precision, "device": str(engine.device),
        "runtime": network.runtime, "detail": params.engine.detail, "profile": params.profile,
    }
    if as_json:
        print_json({**summary, "results": results})
    else:
        err_console.print(
            f"{summary['images']} images upscaled, {summary['failed']} failed, {seconds:.1f} s, "
            f"{summary['megapixels_per_second']:.3f} input megapixels/s "
            f"({model}{f' + {params.engine.detail:g} {params.engine.detail_model}' if params.engine.detail else ''}, "
            f"{summary['device']}, {summary['runtime']}, {summary['precision']}"
            f"{f', {params.profile} profile' if params.profile else ''}) -> {output_dir}"
        )
    if failed:
        raise typer.Exit(1)
