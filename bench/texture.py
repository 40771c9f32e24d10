"""Texture fidelity of the built-in photo models and their blends, per material; the material
profiles' defaults, chosen by cross-validation.

    .venv/bin/python bench/texture_set.py     # once: builds bench/.cache/texture_set/
    .venv/bin/python bench/texture.py         # scores, writes a section of bench/RESULTS.md
    .venv/bin/python bench/texture.py --sheet docs/texture-comparison.png

Each ground truth (centre crop of ``--crop`` px) is reduced x4 by area averaging
(cv2.INTER_AREA), upscaled x4 by the product's engine (``upscaler.engine.Engine``, CPU, its
automatic precision) or by bicubic, and compared with the truth: PSNR and SSIM on Y, detail
ratio and spectral distance (``upscaler.evaluation.image_metrics``), colour drift against the input.

A *setting* is what a material profile fixes: the model (x4plus, or the compact
realesr-animevideov3), the share ``w`` of RealSR DF2K mixed into it (the profile's ``detail``) and
preserve-colour. Each network runs once per image (outputs cached in
``bench/.cache/texture_outputs/``, per model and crop size); every setting is made from those
outputs, ``(1 - w) * model + w * realsr`` pixel by pixel, then the engine's own colour correction
(``upscaler.engine.preserve_color.preserve_color``). That is the engine's result to within a level, because
its detail blend is the weighted mean of the two models' outputs (tests/test_detail_blend.py); the
script checks it through the engine on ``--engine-checks`` images.

The defaults are chosen per category by the rule in ``bench/texture_cv.py`` (PSNR first, then
texture), and scored by leave-one-source-out cross-validation: every image under the choice made
without its source. Those held-out numbers, per category and over all images, are the result.
The final defaults (the same rule on all images) go to ``upscaler/profile_defaults.json``
(committed; ``upscaler.profiles`` reads it), which records how they were chosen. Truths that
``texture_caveats`` flags (palette, dither, JPEG blocking) are scored but left out of the texture
aggregates.
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
from bench.texture_cv import OVERALL, Rule, Scored, agreement, choose, cross_validate  # noqa: E402
from bench.texture_set import read_sources  # noqa: E402

BENCH = Path(__file__).resolve().parent
SET = BENCH / ".cache" / "texture_set"
OUTPUTS = BENCH / ".cache" / "texture_outputs"
X4PLUS, REALSR, ANIME = "realesrgan-x4plus", "realsr-df2k-x4", "realesr-animevideov3"
BASES = (X4PLUS, ANIME)  # the models RealSR's detail is mixed into
TARGETS = {"spectral_distance": 0.45, "abs_ln_detail": 0.45, "psnr_drop": 0.2, "color_drift": 1.0}
SHEET_CELL = 100  # px: four rows of five keep the PNG at a few hundred KB
PROFILES = BENCH.parent / "upscaler" / "profile_defaults.json"
# The product's material categories, in the order profile_defaults.json lists them.
PRODUCT_CATEGORIES = ("fabric", "carpet", "leather", "wood", "stone", "brick", "tiles", "concrete", "metal",
                      "wallpaper", "glass", "other")
# A category without truths takes the setting of the closest material that has them (by how the
# surface is made: woven, masonry, glazed); none measured either: the all-images setting.
CLOSEST = {"leather": "fabric", "fabric": "carpet", "carpet": "fabric", "wallpaper": "fabric",
           "concrete": "stone", "brick": "stone", "stone": "concrete", "tiles": "stone", "glass": "tiles"}
@dataclass
class Truth:
    name: str
    category: str
    pixels: np.ndarray      # BGR uint8, the crop
    low_res: np.ndarray     # reduced x4 by area averaging
    flagged: list[str]
    source: str             # bench/texture_set.py: package and copyright paragraph


@dataclass(frozen=True)
class Setting:
    realsr_weight: float    # 0 = the model alone, 1 = RealSR alone (the profile's detail)
    preserve_color: bool
    model: str = X4PLUS     # what RealSR is mixed into

    @property
    def label(self) -> str:
        short = self.model.replace("realesrgan-", "").replace("realesr-", "")
        base = {0.0: short, 1.0: "realsr"}.get(self.realsr_weight, f"{short} + {self.realsr_weight:g}")
        return base + (" +pc" if self.preserve_color else "")


def load_truths(folder: Path, crop: int) -> list[Truth]:
    from upscaler.evaluation.image_metrics import texture_caveats

    sources = read_sources(folder / "sources.csv")
    truths = []
    for path in sorted(folder.glob("*/*.png")):
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        side = min(crop, *img.shape[:2]) // 4 * 4
        y, x = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
        pixels = np.ascontiguousarray(img[y : y + side, x : x + side])
        low = cv2.resize(pixels, (side // 4, side // 4), interpolation=cv2.INTER_AREA)
        if path.stem not in sources:
            raise SystemExit(f"{path}: not in {folder / 'sources.csv'}; run bench/texture_set.py again")
        truths.append(Truth(path.stem, path.parent.name, pixels, low, texture_caveats(pixels).reasons(),
                            sources[path.stem]))
    if not truths:
        raise SystemExit(f"no images in {folder}: run bench/texture_set.py first")
    return truths


def network_outputs(truths: list[Truth], crop: int, models: tuple[str, ...]) -> dict[str, dict[str, np.ndarray]]:
    """Every model's output for every truth, from the cache or the engine."""
    from upscaler.engine import Engine
    from upscaler.engine.options import EngineOptions
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    engine = Engine(ModelZoo(get_settings().models_dir), "cpu", calibration_dir=get_settings().data_dir / "calibration")
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
            out = engine.upscale(t.low_res, EngineOptions(model=model))
            cv2.imwrite(str(cached), out)
            outputs[model][t.name] = out
            computed += 1
        if computed:
            print(f"{model}: {computed} images in {time.perf_counter() - started:.0f} s "
                  f"({engine.network(model).precision})", flush=True)
    return outputs


def engine_checks(truths: list[Truth], nets: dict[str, dict[str, np.ndarray]],
                  defaults: dict[str, tuple[Setting, str]], count: int) -> list[tuple[str, str, float, float]]:
    """(image, setting, max, mean |difference| in levels) between the engine's run of an image's
    default setting (the mix inside its tile batches, engine/tile_network.py) and the same setting
    made here from the cached outputs, for the first ``count`` images whose default mixes two models."""
    from upscaler.engine import Engine
    from upscaler.engine.options import EngineOptions
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    engine = Engine(ModelZoo(get_settings().models_dir), "cpu", calibration_dir=get_settings().data_dir / "calibration")
    mixed = [t for t in truths if 0 < defaults[t.category][0].realsr_weight < 1]
    picked = [mixed[round(i * (len(mixed) - 1) / max(count - 1, 1))] for i in range(min(count, len(mixed)))]
    results = []
    for t in picked:
        s = defaults[t.category][0]
        in_engine = engine.upscale(t.low_res, EngineOptions(model=s.model, detail_model=REALSR, detail=s.realsr_weight,
                                                        preserve_color=s.preserve_color))
        gap = np.abs(in_engine.astype(np.int16) - setting_output(t, nets, s).astype(np.int16))
        results.append((t.name, s.label, float(gap.max()), float(gap.mean())))
    return results


def setting_output(t: Truth, nets: dict[str, dict[str, np.ndarray]], s: Setting) -> np.ndarray:
    """The setting's output for ``t`` from the cached network outputs: the blend, then the colour fix."""
    from upscaler.engine.preserve_color import preserve_color

    out = blend(nets[s.model][t.name], nets[REALSR][t.name], s.realsr_weight)
    return preserve_color(t.low_res, out) if s.preserve_color else out


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    mixed = (1 - weight) * a.astype(np.float32) + weight * b.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def score_settings(truths: list[Truth], nets: dict[str, dict[str, np.ndarray]], settings: list[Setting],
                   cache: Path) -> dict[Setting, list[tuple[Truth, dict[str, float]]]]:
    """Every setting's measures on every truth; kept in ``cache`` (JSON) beside the network outputs,
    which are cached by image name too: delete both to measure changed truths again."""
    known = json.loads(cache.read_text()) if cache.is_file() else {}
    result, added = {}, 0
    for s in settings:
        result[s] = []
        for t in truths:
            key = f"{s.model}|{s.realsr_weight:g}|{int(s.preserve_color)}|{t.category}/{t.name}"
            if key not in known:
                known[key], added = score(setting_output(t, nets, s), t), added + 1
            result[s].append((t, known[key]))
    if added:
        cache.write_text(json.dumps(known))
    return result


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


def texture_error_words(rule: Rule) -> str:
    """The rule's texture error and ties, in words."""
    error = "spectral distance" + (f" + {rule.detail_weight:g} x |ln detail ratio|" if rule.detail_weight else "")
    return error + (f"; ties within {rule.tolerance:g} to the higher PSNR" if rule.tolerance else "")


def chosen_by(rule: Rule, sources: int) -> str:
    """How the defaults were chosen, for the defaults file."""
    return (f"per category, bench/texture_cv.py's rule on all ground truths: mean PSNR-Y >= x4plus - "
            f"{rule.psnr_margin:g} dB, colour drift <= {rule.max_drift:g}, then the lowest texture error "
            f"({texture_error_words(rule)}); scored by leave-one-source-out cross-validation over {sources} "
            f"sources, held-out results in bench/RESULTS.md")


def write_profiles(path: Path, defaults: dict[str, tuple[Setting, str]], counts: dict[str, int],
                   how: str = "") -> None:
    """upscaler/profile_defaults.json: one line per category, so a new measurement diffs by category."""
    total = sum(counts.values())
    entries = []
    for category, (s, measured_as) in defaults.items():
        images = total if measured_as == OVERALL else counts.get(category, 0) if measured_as == category else 0
        entry = {"model": s.model, "detail": s.realsr_weight, "preserve_color": s.preserve_color,
                 "measured_as": measured_as, "images": images}
        entries.append(f"  {json.dumps(category)}: {json.dumps(entry)}")
    source = f"bench/texture.py, {datetime.now(timezone.utc):%Y-%m-%d}, {total} ground truths"
    chosen = f' "chosen_by": {json.dumps(how)},\n' if how else ""
    text = "{" + f'"source": {json.dumps(source)},\n{chosen} "profiles": {{\n' + ",\n".join(entries) + "\n }}\n"
    json.loads(text)  # the product reads it: never write what does not parse
    path.write_text(text)
    print(f"profiles: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", type=Path, default=SET, help="folder of <category>/<name>.png truths and sources.csv")
    parser.add_argument("--crop", type=int, default=256,
                        help="centre crop of each truth in px (inputs are a quarter of it); default 256")
    parser.add_argument("--weights", default="0.25,0.375,0.5,0.625,0.75",
                        help="RealSR shares of the blends (0 and 1 are always scored)")
    parser.add_argument("--psnr-margin", type=float, default=Rule.psnr_margin,
                        help="dB below x4plus a category's choice may go on the images it is chosen on")
    parser.add_argument("--tolerance", type=float, default=Rule.tolerance,
                        help="texture error counted as a tie (the higher PSNR wins it)")
    parser.add_argument("--detail-weight", type=float, default=Rule.detail_weight,
                        help="weight of |ln detail ratio| in the texture error (the spectral distance's is 1)")
    parser.add_argument("--max-drift", type=float, default=TARGETS["color_drift"])
    parser.add_argument("--engine-checks", type=int, default=3,
                        help="images whose default setting is also run through the engine (the equivalence check)")
    parser.add_argument("--sheet", type=Path, help="also write the comparison sheet PNG here")
    parser.add_argument("--profiles", type=Path, default=PROFILES,
                        help="where the material profiles' defaults go (unless --no-write); default %(default)s")
    parser.add_argument("--title", default="Texture fidelity: material profiles chosen by cross-validation (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    from upscaler.zoo.catalogue import BUILTIN_MODELS

    truths = load_truths(args.set, args.crop)
    started = time.perf_counter()
    nets = network_outputs(truths, args.crop, tuple(BUILTIN_MODELS))
    engine_seconds = time.perf_counter() - started
    timing = (f"Network time for the outputs computed in this run: {engine_seconds:.0f} s"
              if engine_seconds > 5 else "Network outputs from the cache of an earlier run")

    weights = [0.0] + [float(w) for w in args.weights.split(",")] + [1.0]
    # RealSR alone is the same output whatever it would be mixed into: scored once, as x4plus's detail 1.
    settings = [Setting(w, pc, base) for base in BASES for w in weights for pc in (False, True)
                if not (w == 1.0 and base != X4PLUS)]
    by_setting = score_settings(truths, nets, settings, OUTPUTS / f"scores-{args.crop}.json")
    bicubic = [(t, score(cv2.resize(t.low_res, t.pixels.shape[1::-1], interpolation=cv2.INTER_CUBIC), t))
               for t in truths]
    rule = Rule(args.psnr_margin, args.max_drift, args.tolerance, args.detail_weight)
    scored = {s: [Scored(t.name, t.category, bool(t.flagged), m["psnr"],
                         m["spectral_distance"] + rule.detail_weight * abs(math.log(m["detail_ratio"])),
                         m["color_drift"])
                  for t, m in rows] for s, rows in by_setting.items()}
    baseline = Setting(0.0, False)
    categories = sorted({t.category for t in truths})
    sources = {t.name: t.source for t in truths}
    held = cross_validate(scored, sources, baseline, rule, CLOSEST, categories)
    final = choose(scored, lambda name: True, baseline, rule, CLOSEST, categories)
    same_as_final = agreement(held, final)

    metrics = {(s, t.name): m for s, rows in by_setting.items() for t, m in rows}
    by_name = {t.name: t for t in truths}

    def rows_under(assignment: dict[str, Setting], names) -> list[tuple[Truth, dict[str, float]]]:
        return [(by_name[n], metrics[assignment[n], n]) for n in sorted(names)]

    def of_category(c: str) -> list[str]:
        return [t.name for t in truths if t.category == c]

    def fmt(agg: dict[str, float]) -> str:
        return (f"{agg['spectral_distance']:.3f} | {agg['abs_ln_detail']:.3f} | {agg['detail_ratio']:.2f} | "
                f"{agg['psnr']:.2f} | {agg['ssim']:.3f} | {agg['color_drift']:.2f}")

    head = ("| {} | mean spectral distance | median abs(ln detail ratio) | detail ratio (geo. mean) | "
            "mean PSNR-Y (dB) | mean SSIM-Y | mean colour drift |\n|---|---|---|---|---|---|---|")
    everything = [head.format("method (all images, each scored on all)"), f"| bicubic | {fmt(aggregate(bicubic))} |"]
    everything += [f"| {s.label} | {fmt(aggregate(rows))} |" for s, rows in by_setting.items()]

    # Held out: each image under the setting chosen without its source; the category's x4plus on the same images.
    x4plus_all = {t.name: baseline for t in truths}
    held_table = ["| category (images, sources) | held-out spectral distance | median abs(ln detail ratio) | "
                  "PSNR-Y vs x4plus (dB) | colour drift | final default | chosen alike in folds | targets |",
                  "|---|---|---|---|---|---|---|---|"]
    psnr_side = []
    for c in categories:
        names = of_category(c)
        agg, base = aggregate(rows_under(held.setting_of, names)), aggregate(rows_under(x4plus_all, names))
        checks = {"spectral distance <= 0.45": agg["spectral_distance"] <= TARGETS["spectral_distance"],
                  "median abs(ln detail ratio) <= 0.45": agg["abs_ln_detail"] <= TARGETS["abs_ln_detail"],
                  f"PSNR-Y >= x4plus - {TARGETS['psnr_drop']:g} dB":
                      agg["psnr"] >= base["psnr"] - TARGETS["psnr_drop"],
                  "colour drift <= 1.0": agg["color_drift"] <= TARGETS["color_drift"]}
        missed = [name for name, ok in checks.items() if not ok]
        if missed:
            psnr_side.append(f"{c} ({', '.join(missed)})")
        same, folds = same_as_final[c]
        held_table.append(
            f"| {c} ({len(names)}, {len({sources[n] for n in names})}) | {agg['spectral_distance']:.3f} | "
            f"{agg['abs_ln_detail']:.3f} | {agg['psnr'] - base['psnr']:+.2f} | {agg['color_drift']:.2f} | "
            f"{final[c][0].label} | {same}/{folds} | {'all hold' if not missed else 'misses ' + ', '.join(missed)} |")
    everyone = [t.name for t in truths]
    total, base_total = aggregate(rows_under(held.setting_of, everyone)), aggregate(rows_under(x4plus_all, everyone))
    held_table.append(f"| **all images, each under its category's held-out choice** ({len(truths)}, "
                      f"{len(set(sources.values()))}) | {total['spectral_distance']:.3f} | {total['abs_ln_detail']:.3f} | "
                      f"{total['psnr'] - base_total['psnr']:+.2f} | {total['color_drift']:.2f} | - | - | - |")
    one_for_all = aggregate(rows_under(held.overall_setting_of, everyone))
    checks = [("mean spectral distance <= 0.45", total["spectral_distance"] <= TARGETS["spectral_distance"],
               f"{total['spectral_distance']:.3f}"),
              ("median abs(ln detail ratio) <= 0.45", total["abs_ln_detail"] <= TARGETS["abs_ln_detail"],
               f"{total['abs_ln_detail']:.3f}"),
              (f"mean PSNR-Y no more than {TARGETS['psnr_drop']:g} dB below x4plus",
               total["psnr"] >= base_total["psnr"] - TARGETS["psnr_drop"], f"{total['psnr'] - base_total['psnr']:+.2f} dB"),
              ("mean colour drift <= 1.0", total["color_drift"] <= TARGETS["color_drift"], f"{total['color_drift']:.2f}")]
    verdict = "\n".join(f"- {name}: {value} — **{'holds' if ok else 'does not hold'}**" for name, ok, value in checks)

    fold_rows = ["| held-out source | images | categories | choices made without it, where they differ from the final "
                 "defaults |", "|---|---|---|---|"]
    for source, names, chosen in held.folds:
        cats = sorted({held.category_of[n] for n in names})
        differ = [f"{c}: {chosen[c][0].label}" + (f" (as {chosen[c][1]})" if chosen[c][1] != c else "")
                  for c in cats if chosen[c][0] != final[c][0]]
        fold_rows.append(f"| {source} | {len(names)} | {', '.join(cats)} | {'; '.join(differ) or 'none'} |")

    defaults = profile_defaults({c: s for c, (s, m) in final.items() if m == c and c != OVERALL}, final[OVERALL][0])
    images = {c: sum(t.category == c for t in truths) for c in categories}
    profile_rows = ["| profile | model | detail | preserve colour | measured as (images) |\n|---|---|---|---|---|"]
    profile_rows += [f"| {c} | {s.model} | {s.realsr_weight:g} | {'yes' if s.preserve_color else 'no'} | "
                     f"{src} ({len(truths) if src == OVERALL else images[src]}) |" for c, (s, src) in defaults.items()]
    checked = engine_checks(truths, nets, defaults, args.engine_checks)
    flagged = [f"{t.category}/{t.name} ({', '.join(t.flagged)})" for t in truths if t.flagged]
    listed = ", ".join(f"{c} {images[c]}" for c in categories)
    gaps = "; ".join(f"{name} {detail} {gap_max:g} levels max, {gap_mean:.3f} mean" for name, detail, gap_max, gap_mean in checked)
    body = "\n".join([
        f"{len(truths)} ground truths from `bench/texture_set.py` ({listed}) from {len(set(sources.values()))} sources "
        f"(a package and one paragraph of its `debian/copyright`: the same authors), centre crops of {args.crop} px, "
        f"reduced x4 by area averaging (inputs {args.crop // 4} px), upscaled x4, compared with the truth. A setting is "
        f"a model mixed with RealSR DF2K: 'x4plus + w' = (1 - w) x4plus + w RealSR, 'animevideov3 + w' the same on "
        f"realesr-animevideov3, pixel by pixel; '+pc' = with the engine's preserve-colour correction. Texture "
        f"aggregates leave out flagged truths: {', '.join(flagged) or 'none'}. {timing}.", "",
        "**How the defaults were chosen.** Each network ran once per image; every setting was made from the cached "
        "outputs, because the engine's detail blend equals the weighted mean of the two models' own outputs "
        "within a level (tests/test_detail_blend.py). Checked here through the real engine with each image's "
        f"default setting: {gaps}. The rule (bench/texture_cv.py), per category: mean PSNR-Y at least x4plus's "
        f"minus {rule.psnr_margin:g} dB and mean colour drift at most {rule.max_drift:g} on the images it may see, "
        f"then the lowest texture error ({texture_error_words(rule)}). Cross-validation: leave one "
        f"source out; every image is scored under the setting its category got from the other sources only (a "
        f"category with no images left takes its closest material's, `CLOSEST`). The final defaults are the same "
        f"rule on all images; the table says in how many of the folds that score a category the choice was the "
        f"same.", "",
        "**Held-out results** (the result: every image scored under a choice made without its source; PSNR against "
        "x4plus alone on the same images):", "", "\n".join(held_table), "",
        "Targets over all images, held out:", "", verdict, "",
        f"The one setting for everything (`other`, chosen over all images together), held out: {fmt(one_for_all)}.", "",
        "Folds:", "", "\n".join(fold_rows), "",
        f"Categories that miss a target held out: {'; '.join(psnr_side) or 'none'}. The rule puts PSNR first: a "
        "category that cannot have both gives up texture.", "",
        "Material profile defaults written to `upscaler/profile_defaults.json`:", "", "\n".join(profile_rows), "",
        "Every setting over all images (in-sample, for reference; not how the defaults were chosen):", "",
        "\n".join(everything), "",
        f"Command: `.venv/bin/python bench/texture.py {' '.join(sys.argv[1:])}`"])
    print(body)
    if args.sheet:
        write_sheet(args.sheet, truths, nets, {c: s for c, (s, _) in defaults.items()}, by_setting)
    if not args.no_write:
        write_section(args.title, body)
        write_profiles(args.profiles, defaults, images, chosen_by(rule, len(set(sources.values()))))


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
    label_h = 28
    rows = []
    for category in SHEET_CATEGORIES:
        t = typical(category, chosen[category], by_setting) if category in chosen else None
        if t is None:
            print(f"sheet: no {category} truth, row left out")
            continue
        s = chosen[category]
        profile = setting_output(t, nets, s)
        h, w = t.pixels.shape[:2]
        nearest = cv2.resize(t.low_res, (w, h), interpolation=cv2.INTER_NEAREST)
        cells = [((f"{category}: truth", t.name), t.pixels), (("input x4 smaller", "shown nearest"), nearest),
                 (("realesrgan-x4plus", ""), nets[X4PLUS][t.name]), (("realsr-df2k-x4", ""), nets[REALSR][t.name]),
                 (("default profile", s.label), profile)]
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
