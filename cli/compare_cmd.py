"""``upscaler compare``: the same images through several models, on one page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import JSON_HELP, err_console, print_json, settings, zoo
from cli.progress import bars as progress_bars
from upscaler.errors import UpscalerError

BUNDLED_SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def compare(
    inputs: Annotated[list[Path] | None, typer.Argument(help="Images or folders (folder names = material categories). [default: the bundled samples]")] = None,
    models: Annotated[str | None, typer.Option(help="Comma-separated model names or .pth files.")] = None,
    all_models: Annotated[bool, typer.Option("--all-models", help="Every model in the zoo (plus --models).")] = False,
    output: Annotated[Path, typer.Option("--output", "-o", help="Report folder: sheet.png, index.html, metrics.json.")] = Path("report"),
    ground_truth: Annotated[bool, typer.Option("--ground-truth", help="Inputs are high-res: downscale x4 first, score PSNR/SSIM against them.")] = False,
    preserve_color: Annotated[bool, typer.Option("--preserve-color", help="Upscale with colour preservation.")] = False,
    seamless: Annotated[bool, typer.Option("--seamless", help="Upscale as tileable textures.")] = False,
    make_tileable: Annotated[bool, typer.Option(
        "--make-tileable", help="Also tileable.png (+ .json): each output tiled 2x2 before and after make-tileable, "
                                "per category, with the seam scores.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Comparison sheet + metrics (PSNR/SSIM with ground truth, NIQE, colour drift) per model and category."""
    from upscaler.engine import Engine
    from upscaler.evaluation.comparison import collect, evaluate, write_report
    from upscaler.zoo.registry import BUILTIN_MODELS

    chosen = [m.strip() for m in (models or "").split(",") if m.strip()]
    if all_models:
        chosen = sorted(set(BUILTIN_MODELS) | set(zoo().installed())) + [m for m in chosen if m not in BUILTIN_MODELS]
    if not chosen:
        raise typer.BadParameter("give --models A,B or --all-models")
    images = collect(inputs or [BUNDLED_SAMPLES])
    if not images:
        raise typer.BadParameter("no images found in the inputs")
    cfg = settings()
    engine = Engine.from_settings(zoo(), cfg)
    try:
        with progress_bars(disable=as_json) as bars:
            task = bars.add_task("images x models", total=len(images) * len(chosen))
            results = evaluate(engine, images, chosen, ground_truth,
                               {"preserve_color": preserve_color, "seamless": seamless}, lambda: bars.advance(task))
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
