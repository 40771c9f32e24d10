"""Comparison sheets and metrics: the study's hand-made figures, made reproducible.

For each image a row: the low-resolution input (nearest-neighbour enlarged), every model's
output, and the ground truth when there is one (with ``ground_truth``, each input is treated
as high resolution and downscaled x4 first). Written as a PNG contact sheet, a self-contained
HTML page (images embedded, click a cell to zoom), and ``metrics.json``: per image, per model
and per material category, NIQE and colour drift, and with ground truth PSNR/SSIM on Y plus
the texture measures of :mod:`upscaler.evaluation.image_metrics`: detail ratio (fine-band energy against the
truth's, 1 = right) and spectral distance (0 = the truth's high-frequency spectrum).

Ground truths on which the texture measures mislead (palette, dithered, JPEG-blocked: see
:func:`upscaler.evaluation.image_metrics.texture_caveats`) are flagged per image and left out of the category
averages of those two measures. Category averages are arithmetic means, except the detail
ratio's: a geometric mean, so that 0.5 and 2 average to 1.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from upscaler.engine import Engine
from upscaler.evaluation.image_metrics import (
    color_drift,
    detail_ratio,
    niqe,
    psnr_y,
    spectral_distance,
    texture_caveats,
)
from upscaler.evaluation.labels import MARGIN, draw_label, label_height, wrap_label
from upscaler.imageio import INPUT_SUFFIXES, Limits, decode, to_8bit
from upscaler.jobspec import JobRequest

CELL = 192          # pixels of each cell in the contact sheet (a centre crop of the 4x output)
NIQE_MIN_SIZE = 192
# Cell labels: a size legible on a 192 px cell, one line every LABEL_LINE px, as many lines as
# the longest label of a row needs (wrapped, never cut: upscaler/evaluation/labels.py).
LABEL_SCALE, LABEL_LINE = 0.38, 14
# The catalogue's material categories: an image named e.g. "fabric_denim.png" belongs to
# "fabric" whatever its folder (a plural or singular first word counts: "tile-..." is tiles).
MATERIAL_CATEGORIES = ("tiles", "stone", "wood", "fabric", "carpet", "wallpaper", "metal", "glass")
TEXTURE_METRICS = ("detail_ratio", "spectral_distance")


@dataclass
class ImageResult:
    name: str
    category: str
    low_res: np.ndarray
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    ground_truth: np.ndarray | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    # Why the texture measures may mislead on this ground truth ("palette", "dithered", "jpeg-blocking").
    caveats: list[str] = field(default_factory=list)
    # What each column ran on this image, when it says more than the column's name (a profile).
    ran: dict[str, str] = field(default_factory=dict)


def category_from_name(stem: str) -> str | None:
    """The material category an image's name starts with ("fabric_denim" -> "fabric"), or None."""
    first = re.split(r"[-_ .]+", stem.lower(), maxsplit=1)[0]
    for category in MATERIAL_CATEGORIES:
        if first in (category, category + "s", category.removesuffix("s")):
            return category
    return None


def collect(inputs: list[Path]) -> list[tuple[Path, str]]:
    """(image, category): the category is the material its name starts with (see
    :data:`MATERIAL_CATEGORIES`), else the image's folder under the given root."""
    found = []
    for root in inputs:
        if root.is_file():
            found.append((root, category_from_name(root.stem) or root.parent.name or "uncategorised"))
            continue
        for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in INPUT_SUFFIXES):
            relative = path.relative_to(root)
            folder = relative.parts[0] if len(relative.parts) > 1 else root.name
            found.append((path, category_from_name(path.stem) or folder))
    return found


def _bgr8(pixels: np.ndarray) -> np.ndarray:
    pixels = to_8bit(pixels)
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return pixels[:, :, :3]


def ssim_y_bgr(a: np.ndarray, b: np.ndarray) -> float:
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_ssim


    return float(calculate_ssim(a, b, crop_border=0, input_order="HWC", test_y_channel=True))


ParamsFor = Callable[[str, Path, str], JobRequest]


def evaluate(engine: Engine, images: list[tuple[Path, str]], models: list[str], ground_truth: bool,
             options: dict | None = None, progress=None, params_for: ParamsFor | None = None) -> list[ImageResult]:
    """Every image through every column of ``models``: by default each is a model run with
    ``options``; ``params_for(column, path, category)`` gives each column's parameters for an
    image instead (a material profile, say), and what ran is recorded per image (``ran``)."""
    limits = Limits(10**9, 10**10, 2**31)
    results = []
    if params_for is None:
        params_for = lambda column, path, category: JobRequest.from_fields(model=column, **(options or {}))  # noqa: E731
    for path, category in images:
        pixels = _bgr8(decode(path.read_bytes(), str(path), limits, 1.0).pixels)
        truth = None
        if ground_truth:
            h, w = (pixels.shape[0] // 4) * 4, (pixels.shape[1] // 4) * 4
            truth = pixels[:h, :w]
            pixels = cv2.resize(truth, (w // 4, h // 4), interpolation=cv2.INTER_AREA)
        result = ImageResult(path.stem, category, pixels, ground_truth=truth)
        if truth is not None:
            result.caveats = texture_caveats(truth).reasons()
        for model in models:
            params = params_for(model, path, category)
            label = ran_label(params)
            if label != model:
                result.ran[model] = label
            out = engine.upscale(pixels, params.engine)
            result.outputs[model] = out
            metrics = {"color_drift": color_drift(pixels, out)}
            if min(out.shape[:2]) >= NIQE_MIN_SIZE:  # NIQE's statistics need enough 96 px patches
                try:
                    metrics["niqe"] = niqe(out)
                except np.linalg.LinAlgError:  # degenerate (flat) content: no score rather than a crash
                    pass
            if truth is not None:
                metrics |= {"psnr_y": psnr_y(out, truth), "ssim_y": ssim_y_bgr(out, truth)}
                metrics |= {k: v for k, v in texture_metrics(out, truth).items() if math.isfinite(v)}
            result.metrics[model] = {k: round(v, 4) for k, v in metrics.items()}
            if progress:
                progress()
        results.append(result)
    return results


def texture_metrics(output: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Detail ratio and spectral distance of an output against its ground truth."""
    return {"detail_ratio": detail_ratio(output, truth), "spectral_distance": spectral_distance(output, truth)}


def _average(key: str, values: list[float]) -> float:
    if key == "detail_ratio":  # a ratio: geometric mean (0.5 and 2 average to 1)
        return math.exp(statistics.fmean(math.log(max(v, 1e-12)) for v in values))
    return statistics.fmean(values)


def summary(results: list[ImageResult], models: list[str]) -> dict:
    """Average of each metric per model, per category and over all images (see the module
    docstring: geometric for the detail ratio; texture measures without flagged truths)."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for model in models:
        groups: dict[str, list[tuple[dict[str, float], bool]]] = {}
        for r in results:
            entry = (r.metrics[model], bool(r.caveats))
            groups.setdefault(r.category, []).append(entry)
            groups.setdefault("all", []).append(entry)
        table[model] = {}
        for cat, entries in groups.items():
            row = {}
            for k in sorted({k for m, _ in entries for k in m}):
                values = [m[k] for m, flagged in entries if k in m and not (flagged and k in TEXTURE_METRICS)]
                if values:
                    row[k] = round(_average(k, values), 4)
            table[model][cat] = row
    return table


def ran_label(params: JobRequest) -> str:
    """What a column ran, in words: the profile, the model, the texture detail blended in."""
    engine = params.engine
    text = engine.model + (f" + {engine.detail:g} {engine.detail_model}" if engine.detail else "")
    if params.profile:
        text = f"{params.profile} profile: {text}"
    return text


def _cells(result: ImageResult, models: list[str]) -> list[tuple[str, np.ndarray]]:
    """Same-region crops for every column: LR enlarged (nearest), outputs, ground truth."""
    big = next(iter(result.outputs.values())) if result.outputs else cv2.resize(
        result.low_res, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    h, w = big.shape[:2]
    size = min(CELL, h, w)
    y, x = (h - size) // 2, (w - size) // 2
    crop = lambda img: img[y : y + size, x : x + size]  # noqa: E731
    lr = cv2.resize(result.low_res, (w, h), interpolation=cv2.INTER_NEAREST)
    cells = [("input (nearest x4)", crop(lr))] + [(result.ran.get(m, m), crop(result.outputs[m])) for m in models]
    if result.ground_truth is not None:
        cells.append(("ground truth", crop(result.ground_truth)))
    return [(label, cv2.resize(img, (CELL, CELL), interpolation=cv2.INTER_NEAREST)) for label, img in cells]


def contact_sheet(results: list[ImageResult], models: list[str]) -> np.ndarray:
    rows = []
    for r in results:
        cells = _cells(r, models)

        def wrapped(text: str) -> list[str]:
            return wrap_label(text, CELL - 2 * MARGIN, LABEL_SCALE)

        # The image's name heads its input cell; each other cell says what made it.
        labels = [wrapped(f"{r.category}/{r.name}") + wrapped(cells[0][0])] + [wrapped(label) for label, _ in cells[1:]]
        header = label_height(max(len(lines) for lines in labels), LABEL_LINE)
        tiles = []
        for lines, (_label, img) in zip(labels, cells):
            tile = np.full((CELL + header, CELL, 3), 255, np.uint8)
            tile[header:] = img
            draw_label(tile, lines, LABEL_SCALE, LABEL_LINE)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 4), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows])


def _data_uri(img: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", img)
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def html_report(results: list[ImageResult], models: list[str], table: dict, title: str) -> str:
    esc = html.escape
    metric_names = sorted({k for r in results for m in r.metrics.values() for k in m})
    head = "".join(f"<th>{esc(k)}</th>" for k in metric_names)
    rows = "".join(
        f"<tr><td>{esc(model)}</td><td>{esc(cat)}</td>" + "".join(f"<td>{vals.get(k, '')}</td>" for k in metric_names) + "</tr>"
        for model, cats in table.items() for cat, vals in sorted(cats.items()))
    sections = []
    for category in sorted({r.category for r in results}):
        items = []
        for r in (r for r in results if r.category == category):
            keys = ["input", *models, "ground truth"]
            figures = "".join(
                f'<figure><img src="{_data_uri(img)}" alt="{esc(label)}" onclick="zoom(this)">'
                f"<figcaption>{esc(label)}<br>{esc(_metric_line(r, key))}</figcaption></figure>"
                for key, (label, img) in zip(keys, _cells(r, models)))
            flags = (f' <span class="caveat">texture measures mislead here: {esc(", ".join(r.caveats))}</span>'
                     if r.caveats else "")
            items.append(f'<div class="row"><h3>{esc(r.name)}{flags}</h3><div class="cells">{figures}</div></div>')
        sections.append(f"<section><h2>{esc(category)}</h2>{''.join(items)}</section>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }} td, th {{ border: 1px solid #ccc; padding: 3px 8px; }}
.cells {{ display: flex; flex-wrap: wrap; gap: 8px; }} figure {{ margin: 0; font-size: 12px; width: {CELL}px; overflow-wrap: anywhere; }}
figure img {{ width: {CELL}px; height: {CELL}px; image-rendering: pixelated; cursor: zoom-in; }}
#zoom {{ display: none; position: fixed; inset: 0; background: rgba(0,0,0,.85); align-items: center; justify-content: center; }}
#zoom img {{ width: min(90vw, 90vh); image-rendering: pixelated; cursor: zoom-out; }}
.caveat {{ font-size: 13px; font-weight: normal; color: #a40; }}
</style></head><body>
<h1>{esc(title)}</h1>
<p>Each row: the input enlarged with nearest neighbour, each model's x4 output{", the ground truth" if any(r.ground_truth is not None for r in results) else ""}; the same centre crop of each. Click to zoom.</p>
{_TEXTURE_NOTE if any(k in TEXTURE_METRICS for k in metric_names) else ""}
<table><tr><th>model</th><th>category</th>{head}</tr>{rows}</table>
{''.join(sections)}
<div id="zoom" onclick="this.style.display='none'"><img alt="zoomed crop"></div>
<script>
function zoom(img) {{ const box = document.getElementById('zoom'); box.querySelector('img').src = img.src; box.style.display = 'flex'; }}
</script>
</body></html>
"""


_TEXTURE_NOTE = (
    "<p>detail_ratio: the output's fine-texture energy over the ground truth's (1 = as much texture, "
    "below 1 smoothed, above 1 invented; category values are geometric means). spectral_distance: mean "
    "|log10| ratio of the high-frequency power spectra (0 = the truth's, 0.3 = a factor of two off). "
    "Ground truths marked as misleading (palette, dithered, JPEG-blocked) are left out of both averages.</p>")


def _metric_line(result: ImageResult, label: str) -> str:
    metrics = result.metrics.get(label)
    return ", ".join(f"{k} {v:.3g}" for k, v in metrics.items()) if metrics else ""


def write_report(results: list[ImageResult], models: list[str], output: Path, title: str = "Model comparison") -> dict:
    output.mkdir(parents=True, exist_ok=True)
    table = summary(results, models)
    cv2.imwrite(str(output / "sheet.png"), contact_sheet(results, models))
    (output / "index.html").write_text(html_report(results, models, table, title))
    data = {"models": models, "summary": table,
            "images": [{"name": r.name, "category": r.category, "metrics": r.metrics, "caveats": r.caveats,
                        **({"ran": r.ran} if r.ran else {})} for r in results]}
    (output / "metrics.json").write_text(json.dumps(data, indent=2))
    return data
