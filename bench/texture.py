"""Texture fidelity of the built-in photo models, bicubic, and x4plus/RealSR blends, per material.

    .venv/bin/python bench/texture_set.py     # once: builds bench/.cache/texture_set/
    .venv/bin/python bench/texture.py         # scores, writes a section of bench/RESULTS.md
    .venv/bin/python bench/texture.py --sheet docs/texture-comparison.png

Each ground truth (centre crop of ``--crop`` px) is reduced x4 by area averaging
(cv2.INTER_AREA), upscaled x4 by the product's engine (``upscaler.engine.Engine``, CPU, its
automatic precision) or by bicubic, and compared with the truth: PSNR and SSIM on Y, detail
ratio and spectral distance (``upscaler.evaluation.image_metrics``), colour drift against the input. The blends
mix the x4plus and RealSR DF2K outputs pixel by pixel, ``(1 - w) * x4plus + w * realsr``; each
network output and each blend is also scored with the engine's preserve-colour correction
applied to it (``upscaler.engine.preserve_color.preserve_color``, the function the engine runs after the
network; the script checks on one image that the two agree).

Network outputs are cached in ``bench/.cache/texture_outputs/`` (per model and crop size), so
a second run only recomputes the measures. Truths that ``texture_caveats`` flags (palette,
dither, JPEG blocking) are scored but left out of the texture aggregates.

Aggregates, per category and over all images: mean spectral distance, median |ln detail ratio|,
mean PSNR-Y, mean SSIM-Y, mean colour drift. The proposal picks one setting (blend weight,
preserve-colour) per category so that, over all images, the texture error is lowest while the
mean PSNR-Y stays within ``--psnr-slack`` dB of x4plus's and every category's colour drift is at
most ``--max-drift``: a Lagrangian scan (per category, minimise the summed spectral distance +
|ln detail ratio| minus lambda times the summed PSNR, for many lambdas), keeping the feasible
choice that meets the most texture targets with the lowest mean spectral distance. It then
checks the targets over all images.

The material profiles' defaults come from that proposal: the script writes
``upscaler/profile_defaults.json`` (committed; ``upscaler.profiles`` reads it), one entry per
product category, ``detail`` = the RealSR share mixed into x4plus. A category the set has no
truths for takes the setting of its closest measured material (``CLOSEST``); ``other`` takes the
one setting that is best over all images together, under the same PSNR and drift limits.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import write_section  # noqa: E402

BENCH = Path(__file__).resolve().parent
SET = BENCH / ".cache" / "texture_set"
OUTPUTS = BENCH / ".cache" / "texture_outputs"
X4PLUS, REALSR = "realesrgan-x4plus", "realsr-df2k-x4"
NETWORKS = (X4PLUS, REALSR)  # the built-in models for photographs (animevideov3 is for drawn content)
TARGETS = {"spectral_distance": 0.45, "abs_ln_detail": 0.45, "psnr_drop": 0.3, "color_drift": 1.0}
SHEET_CELL = 100  # px: four rows of five keep the PNG at a few hundred KB
PROFILES = BENCH.parent / "upscaler" / "profile_defaults.json"
# The product's material categories, in the order profile_defaults.json lists them.
PRODUCT_CATEGORIES = ("fabric", "carpet", "leather", "wood", "stone", "brick", "tiles", "concrete", "metal",
                      "wallpaper", "glass", "other")
# A category without truths takes the setting of the closest material that has them (by how the
# surface is made: woven, masonry, glazed); none measured either: the all-images setting.
CLOSEST = {"leather": "fabric", "fabric": "carpet", "carpet": "fabric", "wallpaper": "fabric",
           "concrete": "stone", "brick": "stone", "stone": "concrete", "tiles": "stone", "glass": "tiles"}
OVERALL = "all"  # measured_as of the setting chosen over all images together


@dataclass
class Truth:
    name: str
    category: str
    pixels: np.ndarray      # BGR uint8, the crop
    low_res: np.ndarray     # reduced x4 by area averaging
    flagged: list[str]


@dataclass(frozen=True)
class Setting:
    realsr_weight: float    # 0 = x4plus alone, 1 = RealSR alone
    preserve_color: bool

    @property
    def label(self) -> str:
        base = {0.0: X4PLUS, 1.0: REALSR}.get(self.realsr_weight, f"blend {self.realsr_weight:g}")
        return base + (" +pc" if self.preserve_color else "")


def load_truths(folder: Path, crop: int) -> list[Truth]:
    from upscaler.evaluation.image_metrics import texture_caveats

    truths = []
    for path in sorted(folder.glob("*/*.png")):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        side = min(crop, *img.shape[:2]) // 4 * 4
        y, x = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
        pixels = np.ascontiguousarray(img[y : y + side, x : x + side])
        low = cv2.resize(pixels, (side // 4, side // 4), interpolation=cv2.INTER_AREA)
        truths.append(Truth(path.stem, path.parent.name, pixels, low, texture_caveats(pixels).reasons()))
    if not truths:
        raise SystemExit(f"no images in {folder}: run bench/texture_set.py first")
    return truths


def network_outputs(truths: list[Truth], crop: int, models: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    """Every model's output for every truth, from the cache or the engine."""
    from upscaler.engine import Engine
    from upscaler.jobspec import JobParams
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    engine = Engine(ModelZoo(get_settings().models_dir), "cpu")
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for model in models:
        outputs[model] = {}
        folder = OUTPUTS / f"{model}-{crop}"
        folder.mkdir(parents=True, exist_ok=True)
        started, computed = time.perf_counter(), 0
        for t in truths:
            cached = folder / f"{t.category}--{t.name}.png"
            previous = cv2.imread(str(cached), cv2.IMREAD_COLOR) if cached.is_file() else None
            if previous is not None:  # (an unreadable file, e.g. from an interrupted run, is redone)
                outputs[model][t.name] = previous
                continue
            out = engine.upscale(t.low_res, JobParams(model=model))
            cv2.imwrite(str(cached), out)
            outputs[model][t.name] = out
            computed += 1
        if computed:
            print(f"{model}: {computed} images in {time.perf_counter() - started:.0f} s "
                  f"({engine.network(model).precision})", flush=True)
    return outputs


def check_blend_matches_engine(truth: Truth, outputs: dict[str, dict[str, np.ndarray]]) -> tuple[float, float]:
    """(max, mean) |difference| in levels between the engine's run of a profile setting (detail
    0.5, preserve colour: the mix inside the tile batches, engine/tile_network.py) and the same
    setting made here from the cached outputs (blend, then the engine's own colour correction)."""
    from upscaler.engine import Engine
    from upscaler.engine.preserve_color import preserve_color
    from upscaler.jobspec import JobParams
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    engine = Engine(ModelZoo(get_settings().models_dir), "cpu")
    in_engine = engine.upscale(truth.low_res, JobParams(model=X4PLUS, detail_model=REALSR, detail=0.5,
                                                        preserve_color=True))
    offline = preserve_color(truth.low_res, blend(outputs[X4PLUS][truth.name], outputs[REALSR][truth.name], 0.5))
    gap = np.abs(in_engine.astype(np.int16) - offline.astype(np.int16))
    return float(gap.max()), float(gap.mean())


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    mixed = (1 - weight) * a.astype(np.float32) + weight * b.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def score(output: np.ndarray, truth: Truth) -> dict[str, float]:
    from upscaler.evaluation.image_metrics import color_drift, detail_ratio, psnr_y, spectral_distance, ssim_y

    rgb = lambda img: cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float64) / 255  # noqa: E731
    return {"psnr": psnr_y(output, truth.pixels), "ssim": ssim_y(rgb(output), rgb(truth.pixels)),
            "detail_ratio": detail_ratio(output, truth.pixels),
            "spectral_distance": spectral_distance(output, truth.pixels),
            "color_drift": color_drift(truth.low_res, output)}


def aggregate(rows: list[tuple[Truth, dict[str, float]]]) -> dict[str, float]:
    clean = [m for t, m in rows if not t.flagged]
    ln = [abs(math.log(m["detail_ratio"])) for m in clean]
    return {"spectral_distance": statistics.fmean(m["spectral_distance"] for m in clean),
            "abs_ln_detail": statistics.median(ln),
            "detail_ratio": math.exp(statistics.fmean(math.log(m["detail_ratio"]) for m in clean)),
            "psnr": statistics.fmean(m["psnr"] for _, m in rows),
            "ssim": statistics.fmean(m["ssim"] for _, m in rows),
            "color_drift": statistics.fmean(m["color_drift"] for _, m in rows)}


def propose(truths: list[Truth], by_setting: dict, settings: list[Setting], categories: list[str],
            psnr_floor: float, max_drift: float) -> tuple[list[tuple[Truth, dict[str, float]]], dict[str, Setting]]:
    """One setting per category: see the module docstring. Returns the rows it scores and the picks."""
    def sums(s: Setting, c: str) -> tuple[float, float, float]:
        rows = [(t, m) for t, m in by_setting[s] if t.category == c]
        texture = sum(m["spectral_distance"] + abs(math.log(m["detail_ratio"])) for t, m in rows if not t.flagged)
        drift = statistics.fmean(m["color_drift"] for _, m in rows)
        return texture, sum(m["psnr"] for _, m in rows), drift

    table = {(s, c): sums(s, c) for s in settings for c in categories}
    allowed = {c: [s for s in settings if table[s, c][2] <= max_drift] or [Setting(0.0, True)] for c in categories}
    best = None
    for lam in [*np.linspace(0, 3, 301), 1e6]:
        pick = {c: min(allowed[c], key=lambda s: table[s, c][0] - lam * table[s, c][1]) for c in categories}
        rows = [(t, m) for c in categories for t, m in by_setting[pick[c]] if t.category == c]
        agg = aggregate(rows)
        if agg["psnr"] < psnr_floor:
            continue
        missed = (agg["spectral_distance"] > TARGETS["spectral_distance"]) + (agg["abs_ln_detail"] > TARGETS["abs_ln_detail"])
        key = (missed, round(agg["spectral_distance"], 6), -agg["psnr"])
        if best is None or key < best[0]:
            best = (key, rows, pick)
    if best is None:  # nothing keeps PSNR: x4plus itself, with its colour corrected
        pick = {c: Setting(0.0, True) for c in categories}
        return [(t, m) for t, m in by_setting[Setting(0.0, True)]], pick
    return best[1], best[2]


def best_overall(by_setting: dict, settings: list[Setting], psnr_floor: float, max_drift: float) -> Setting:
    """The one setting best over all images together: within the PSNR floor and the drift limit,
    the most texture targets met, then the lowest mean spectral distance (x4plus +pc if none fits)."""
    def key(s: Setting) -> tuple:
        agg = aggregate(by_setting[s])
        missed = (agg["spectral_distance"] > TARGETS["spectral_distance"]) + (agg["abs_ln_detail"] > TARGETS["abs_ln_detail"])
        return missed, agg["spectral_distance"], -agg["psnr"]

    feasible = [s for s in settings if aggregate(by_setting[s])["psnr"] >= psnr_floor
                and aggregate(by_setting[s])["color_drift"] <= max_drift]
    return min(feasible, key=key) if feasible else Setting(0.0, True)


def profile_defaults(chosen: dict[str, Setting], overall: Setting) -> dict[str, tuple[Setting, str]]:
    """(setting, measured_as) for every product category: its own pick, else its closest measured
    material's (CLOSEST), else the all-images setting; ``other`` always the all-images one."""
    result = {}
    for category in PRODUCT_CATEGORIES:
        source = category if category in chosen else CLOSEST.get(category)
        if category == "other" or source not in chosen:
            result[category] = (overall, OVERALL)
        else:
            result[category] = (chosen[source], source)
    return result


def write_profiles(path: Path, defaults: dict[str, tuple[Setting, str]], counts: dict[str, int]) -> None:
    """upscaler/profile_defaults.json: one line per category, so a new measurement diffs by category."""
    total = sum(counts.values())
    entries = []
    for category, (s, measured_as) in defaults.items():
        images = total if measured_as == OVERALL else counts.get(category, 0) if measured_as == category else 0
        entry = {"model": X4PLUS, "detail": s.realsr_weight, "preserve_color": s.preserve_color,
                 "measured_as": measured_as, "images": images}
        entries.append(f"  {json.dumps(category)}: {json.dumps(entry)}")
    source = f"bench/texture.py, {datetime.now(timezone.utc):%Y-%m-%d}, {total} ground truths"
    text = "{" + f'"source": {json.dumps(source)},\n "profiles": {{\n' + ",\n".join(entries) + "\n }}\n"
    json.loads(text)  # the product reads it: never write what does not parse
    path.write_text(text)
    print(f"profiles: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=SET, help="folder of <category>/<name>.png truths")
    parser.add_argument("--crop", type=int, default=256,
                        help="centre crop of each truth in px (inputs are a quarter of it); default 256")
    parser.add_argument("--weights", default="0.25,0.5,0.75", help="RealSR shares of the blends")
    parser.add_argument("--psnr-slack", type=float, default=TARGETS["psnr_drop"])
    parser.add_argument("--max-drift", type=float, default=TARGETS["color_drift"])
    parser.add_argument("--sheet", type=Path, help="also write the comparison sheet PNG here")
    parser.add_argument("--profiles", type=Path, default=PROFILES,
                        help="where the material profiles' defaults go (unless --no-write); default %(default)s")
    parser.add_argument("--title", default="Texture fidelity: x4plus, RealSR DF2K and their blends (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from upscaler.engine.preserve_color import preserve_color

    truths = load_truths(args.set, args.crop)
    started = time.perf_counter()
    # The other built-in models are scored alone (they take no part in blends or profiles).
    from upscaler.zoo.catalogue import BUILTIN_MODELS

    others = tuple(m for m in BUILTIN_MODELS if m not in NETWORKS)
    nets = network_outputs(truths, args.crop, NETWORKS + others)
    engine_seconds = time.perf_counter() - started
    timing = (f"Network time for the outputs computed in this run: {engine_seconds:.0f} s"
              if engine_seconds > 5 else "Network outputs from the cache of an earlier run")
    gap_max, gap_mean = check_blend_matches_engine(truths[0], nets)
    print(f"detail 0.5 + preserve colour, here vs in the engine: max difference {gap_max:g} levels, mean {gap_mean:.3f}")

    weights = [0.0] + [float(w) for w in args.weights.split(",")] + [1.0]
    settings = [Setting(w, pc) for w in weights for pc in (False, True)]
    results: dict[str, list[tuple[Truth, dict[str, float]]]] = {"bicubic": []}
    by_setting: dict[Setting, list[tuple[Truth, dict[str, float]]]] = {s: [] for s in settings}
    for t in truths:
        size = (t.pixels.shape[1], t.pixels.shape[0])
        results["bicubic"].append((t, score(cv2.resize(t.low_res, size, interpolation=cv2.INTER_CUBIC), t)))
        for model in others:
            results.setdefault(model, []).append((t, score(nets[model][t.name], t)))
        for s in settings:
            out = blend(nets[X4PLUS][t.name], nets[REALSR][t.name], s.realsr_weight)
            if s.preserve_color:
                out = preserve_color(t.low_res, out)
            by_setting[s].append((t, score(out, t)))
    for s in settings:
        results[s.label] = by_setting[s]

    categories = sorted({t.category for t in truths})
    overall = {label: aggregate(rows) for label, rows in results.items()}
    per_cat = {label: {c: aggregate([(t, m) for t, m in rows if t.category == c]) for c in categories}
               for label, rows in results.items()}

    proposed_rows, chosen = propose(truths, by_setting, settings, categories, overall[X4PLUS]["psnr"] - args.psnr_slack,
                                    args.max_drift)
    proposed = aggregate(proposed_rows)
    base = overall[X4PLUS]
    every = best_overall(by_setting, settings, base["psnr"] - args.psnr_slack, args.max_drift)
    defaults = profile_defaults(chosen, every)
    images = {c: sum(t.category == c for t in truths) for c in categories}

    def fmt(agg: dict[str, float]) -> str:
        return (f"{agg['spectral_distance']:.3f} | {agg['abs_ln_detail']:.3f} | {agg['detail_ratio']:.2f} | "
                f"{agg['psnr']:.2f} | {agg['ssim']:.3f} | {agg['color_drift']:.2f}")

    head = ("| method | mean spectral distance | median abs(ln detail ratio) | detail ratio (geo. mean) | "
            "mean PSNR-Y (dB) | mean SSIM-Y | mean colour drift |\n|---|---|---|---|---|---|---|")
    table = [head] + [f"| {label} | {fmt(agg)} |" for label, agg in overall.items()]
    table.append(f"| **proposed per-category defaults** | {fmt(proposed)} |")
    apart = []
    for c in ("fabric", "carpet"):
        if c in categories:
            apart.append(f"\n**{c}** ({sum(t.category == c for t in truths)} images)\n\n{head}")
            apart += [f"| {label} | {fmt(per_cat[label][c])} |" for label in per_cat]
            apart.append(f"| **proposed ({chosen[c].label})** | "
                         f"{fmt(aggregate([(t, m) for t, m in proposed_rows if t.category == c]))} |")
    cells = "| category (images) | " + " | ".join(results) + " |\n|---|" + "---|" * len(results)
    matrix = [cells] + [
        f"| {c} ({sum(t.category == c for t in truths)}) | "
        + " | ".join(f"{per_cat[label][c]['spectral_distance']:.2f} / {per_cat[label][c]['abs_ln_detail']:.2f} / "
                     f"{per_cat[label][c]['psnr']:.1f}" for label in results) + " |" for c in categories]
    picks = ["| category | RealSR weight | preserve colour | spectral distance | median abs(ln detail ratio) | "
             "PSNR-Y vs x4plus (dB) | colour drift |\n|---|---|---|---|---|---|---|"]
    for c in categories:
        s, agg = chosen[c], per_cat[chosen[c].label][c]
        picks.append(f"| {c} | {s.realsr_weight:g} | {'yes' if s.preserve_color else 'no'} | "
                     f"{agg['spectral_distance']:.3f} | {agg['abs_ln_detail']:.3f} | "
                     f"{agg['psnr'] - per_cat[X4PLUS][c]['psnr']:+.2f} | {agg['color_drift']:.2f} |")
    checks = [("mean spectral distance <= 0.45", proposed["spectral_distance"] <= TARGETS["spectral_distance"],
               f"{proposed['spectral_distance']:.3f}"),
              ("median abs(ln detail ratio) <= 0.45", proposed["abs_ln_detail"] <= TARGETS["abs_ln_detail"],
               f"{proposed['abs_ln_detail']:.3f}"),
              ("mean PSNR-Y no more than 0.3 dB below x4plus", proposed["psnr"] >= base["psnr"] - TARGETS["psnr_drop"],
               f"{proposed['psnr'] - base['psnr']:+.2f} dB"),
              ("mean colour drift <= 1.0", proposed["color_drift"] <= TARGETS["color_drift"],
               f"{proposed['color_drift']:.2f}")]
    verdict = "\n".join(f"- {name}: {value} — **{'holds' if ok else 'does not hold'}**" for name, ok, value in checks)
    flagged = [f"{t.category}/{t.name} ({', '.join(t.flagged)})" for t in truths if t.flagged]
    profile_rows = ["| profile | detail | preserve colour | measured as (images) |\n|---|---|---|---|"]
    profile_rows += [f"| {c} | {s.realsr_weight:g} | {'yes' if s.preserve_color else 'no'} | "
                     f"{src} ({len(truths) if src == OVERALL else images[src]}) |" for c, (s, src) in defaults.items()]
    listed = ", ".join(f"{c} {sum(t.category == c for t in truths)}" for c in categories)
    body = "\n".join([
        f"{len(truths)} ground truths from `bench/texture_set.py` ({listed}), centre crops of {args.crop} px, "
        f"reduced x4 by area averaging (inputs {args.crop // 4} px), upscaled x4, compared with the truth. "
        f"'blend w' = (1 - w) x4plus + w RealSR DF2K, pixel by pixel; '+pc' = with the engine's preserve-colour "
        f"correction. Texture aggregates leave out flagged truths: {', '.join(flagged) or 'none'}. "
        f"{timing}. A profile setting (detail 0.5, preserve colour) made here from the two outputs vs run by the "
        f"engine (the mix inside its tile batches): max difference {gap_max:g} levels, mean {gap_mean:.3f}.", "", "\n".join(table), "\n".join(apart), "",
        "Per category: spectral distance / median abs(ln detail ratio) / PSNR-Y (dB)", "", "\n".join(matrix), "",
        f"Proposed per-category defaults (one setting per category; over all images the lowest texture error "
        f"with mean PSNR-Y within {args.psnr_slack:g} dB of x4plus's, colour drift <= {args.max_drift:g} in every "
        f"category; the PSNR column is the category's own change):",
        "", "\n".join(picks), "", "Targets over all images with the proposed defaults:", "", verdict, "",
        f"Material profile defaults written to `upscaler/profile_defaults.json` (model {X4PLUS}, detail = the "
        f"RealSR share): each category its own pick above; one without truths its closest measured material's; "
        f"`other` the one setting best over all images together ({every.label}: {fmt(overall[every.label])}).",
        "", "\n".join(profile_rows), "",
        f"Command: `.venv/bin/python bench/texture.py {' '.join(sys.argv[1:])}`"])
    print(body)
    if args.sheet:
        write_sheet(args.sheet, truths, nets, chosen, by_setting)
    if not args.no_write:
        write_section(args.title, body)
        write_profiles(args.profiles, defaults, images)


SHEET_CATEGORIES = ("fabric", "leather", "carpet", "wood")


def typical(category: str, chosen: Setting, by_setting: dict) -> Truth | None:
    """The category's image at the median texture error under its default (the upper one of an
    even count; flagged truths left out): what a typical image looks like, not the best one."""
    rows = sorted(((m["spectral_distance"] + abs(math.log(m["detail_ratio"])), t.name, t)
                   for t, m in by_setting[chosen] if t.category == category and not t.flagged), key=lambda r: r[:2])
    return rows[len(rows) // 2][2] if rows else None


def write_sheet(path: Path, truths: list[Truth], nets: dict[str, dict[str, np.ndarray]],
                chosen: dict[str, Setting], by_setting: dict) -> None:
    """One row per material (a typical image): truth, input (enlarged nearest), x4plus, RealSR and
    the category's default profile, the same centre crop of each."""
    from upscaler.engine.preserve_color import preserve_color

    label_h = 28
    rows = []
    for category in SHEET_CATEGORIES:
        t = typical(category, chosen[category], by_setting) if category in chosen else None
        if t is None:
            print(f"sheet: no {category} truth, row left out")
            continue
        s = chosen[category]
        profile = blend(nets[X4PLUS][t.name], nets[REALSR][t.name], s.realsr_weight)
        if s.preserve_color:
            profile = preserve_color(t.low_res, profile)
        h, w = t.pixels.shape[:2]
        nearest = cv2.resize(t.low_res, (w, h), interpolation=cv2.INTER_NEAREST)
        cells = [((f"{category}: truth", t.name), t.pixels), (("input x4 smaller", "shown nearest"), nearest),
                 (("realesrgan-x4plus", ""), nets[X4PLUS][t.name]), (("realsr-df2k-x4", ""), nets[REALSR][t.name]),
                 (("default profile", f"detail {s.realsr_weight:g}{', pc' if s.preserve_color else ''}"), profile)]
        y, x = (h - SHEET_CELL) // 2, (w - SHEET_CELL) // 2
        tiles = []
        for lines, img in cells:
            tile = np.full((SHEET_CELL + label_h, SHEET_CELL, 3), 255, np.uint8)
            tile[label_h:] = img[y : y + SHEET_CELL, x : x + SHEET_CELL]
            for i, line in enumerate(lines):
                cv2.putText(tile, line, (2, 11 + 12 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (0, 0, 0), 1, cv2.LINE_AA)
            tiles.append(np.pad(tile, ((0, 3), (0, 3), (0, 0)), constant_values=255))
        rows.append(np.hstack(tiles))
        print(f"sheet: {category} row is {t.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"sheet: {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
