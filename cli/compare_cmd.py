"""``upscaler compare``: the same images through several models, on one page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import JSON_HELP, ensure_schema, err_console, print_json, settings, zoo
from cli.progress import bars as progress_bars
from upscaler.errors import UpscalerError

BUNDLED_SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def compare(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Images or folders (folder names = material categories). [default: the bundled samples]")] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated model names or .pth files.")] = None,
    all_models: Annotated[bool, typer.Option("--all-models", help="Every model in the zoo (plus --models).")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder: sheet.png, index.html, metrics.json.")] = Path("report"),
    ground_truth: Annotated[bool, typer.Option("--ground-truth", help="Inputs are high-res: downscale x4 first, score PSNR/SSIM against them.")] = False,
    material: Annotated[str, typer.Option(
        help="Material category (fabric, carpet, ...), 'auto' (each image's category from its file or folder name) "
             "or 'none'. With a material, every column runs as `upscale --material` would (the profile sets what "
             "is not given here) and a 'profile' column shows the profile itself, its own model included.")] = "none",
    detail: Annotated[float | None, typer.Option(
        help="Texture detail 0..1 for every column, as on `upscale`. [default: the material's profile, 0]")] = None,
    preserve_color: Annotated[bool | None, typer.Option(
        "--preserve-color/--no-preserve-color",
        help="Upscale with colour preservation. [default: the material's profile, no]")] = None,
    seamless: Annotated[bool | None, typer.Option(
        "--seamless/--no-seamless", help="Upscale as tileable textures. [default: the material's profile, no]")] = None,
    make_tileable: Annotated[bool, typer.Option(
        "--make-tileable", help="Also tileable.png (+ .json): each output tiled 2x2 before and after make-tileable, "
                                "per category, with the seam scores.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Comparison sheet + metrics (PSNR/SSIM with ground truth, NIQE, colour drift) per model and category.

    Writes sheet.png, index.html and metrics.json into --output; prints one summary line per
    column and the report's paths (--json: metrics.json's content). Exit 0, 1 when a model
    fails, 2 on a usage error."""
    from upscaler.engine import Engine
    from upscaler.evaluation.comparison import collect, evaluate, write_report
    from upscaler.zoo.registry import BUILTIN_MODELS

    chosen = [m.strip() for m in (models or "").split(",") if m.strip()]
    if all_models:
        chosen = sorted(set(BUILTIN_MODELS) | set(zoo().installed())) + [m for m in chosen if m not in BUILTIN_MODELS]
    material = _checked_material(material)
    if material and PROFILE_COLUMN not in chosen:
        chosen.insert(0, PROFILE_COLUMN)
    if not chosen:
        raise typer.BadParameter("give --models A,B, --all-models or a --material whose profile to show")
    images = collect(inputs or [BUNDLED_SAMPLES])
    if not images:
        raise typer.BadParameter("no images found in the inputs")
    given = {"detail": detail, "preserve_color": preserve_color, "seamless": seamless}
    try:
        params_for = column_params(given, material, _profiles() if material else {})
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    cfg = settings()
    engine = Engine.from_settings(zoo(), cfg)
    try:
        with progress_bars(disable=as_json) as bars:
            task = bars.add_task("images x models", total=len(images) * len(chosen))
            results = evaluate(engine, images, chosen, ground_truth, progress=lambda: bars.advance(task),
                               params_for=params_for)
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    data = write_report(results, chosen, output)
    if make_tileable:
        data["tileable"] = write_tileable_sheet(results, chosen, output)
    if as_json:
        print_json(data)
        return
    for model, categories in data["summary"].items():
        overall = ", ".join(f"{k} {v:.3f}" for k, v in categories["all"].items())
        err_console.print(f"{model}: {overall}")
    for pair in data.get("tileable", []):
        err_console.print(f"{pair['category']}/{pair['name']} ({pair['model']}): wrap seam score "
                          f"{pair['seam_score_before']:.2f} -> {pair['seam_score_after']:.2f}"
                          + "".join(f"; {w}" for w in pair["warnings"]))
    extra = f", {output / 'tileable.png'}" if make_tileable else ""
    err_console.print(f"report: {output / 'index.html'} and {output / 'sheet.png'}{extra}")


PROFILE_COLUMN = "profile"


def _checked_material(material: str) -> str | None:
    """``none`` -> None, ``auto`` as is, else a category (a name that is none: did you mean, exit 2)."""
    from upscaler.materials.names import AUTO, CATEGORIES, known_category
    from upscaler.suggest import did_you_mean

    value = material.strip().lower()
    if value in ("", "none"):
        return None
    if value == AUTO:
        return AUTO
    if known_category(value) is None:
        raise typer.BadParameter(f"material {material!r}{did_you_mean(value, CATEGORIES)}: choose auto, none or one "
                                 f"of {', '.join(CATEGORIES)}", param_hint="--material")
    return known_category(value)


def _profiles():
    """The profiles as every producer sees them (as set in the database, else the shipped defaults)."""
    from db.profiles import profiles_in_effect
    from db.session import session_scope

    ensure_schema()
    with session_scope() as session:
        return profiles_in_effect(session)


def column_params(given: dict, material: str | None, profiles: dict):
    """``params_for(column, path, category)`` for :func:`evaluate`: each column is what
    ``upscale --material MATERIAL --model COLUMN`` with the options ``given`` (None = not given)
    runs on the image; the ``profile`` column is ``upscale --material MATERIAL`` (the profile's
    own model). ``auto``: the image's category from its name (compare's category, else its path)."""
    from upscaler.jobspec import JobRequest
    from upscaler.materials.names import AUTO, category_from_path, known_category
    from upscaler.profiles import params_for_material

    options = {name: value for name, value in given.items() if value is not None}
    JobRequest.from_fields(**options)  # checked once, before any image

    def params_for(column: str, path, category: str) -> JobRequest:
        fixed = tuple(options) + (() if column == PROFILE_COLUMN else ("model",))
        request = JobRequest.from_fields(**options, **({} if column == PROFILE_COLUMN else {"model": column}),
                                         fixed=fixed)
        if material is None:
            return request
        own = material if material != AUTO else (known_category(category) or category_from_path(str(path)))
        return params_for_material(request, own, profiles)[0] if own else request

    return params_for


def write_tileable_sheet(results, models: list[str], output: Path) -> list[dict]:
    """tileable.png and tileable.json in the report folder; the pairs' scores and warnings."""
    import json

    import cv2

    from upscaler.evaluation.tileable_sheet import make_pairs, tileable_sheet

    pairs = make_pairs([(r.category, r.name, m, r.outputs[m]) for r in results for m in models])
    cv2.imwrite(str(output / "tileable.png"), tileable_sheet(pairs))
    scores = [p.as_dict() for p in pairs]
    (output / "tileable.json").write_text(json.dumps(scores, indent=2))
    return scores
