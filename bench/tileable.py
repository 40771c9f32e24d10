"""Board-ready tiles from real material photos: make-tileable before or after the x4 network,
against the plain output and a cross-fade; repeats; maps; speed; memory.

    .venv/bin/python bench/texture_set.py     # once: builds bench/.cache/texture_set/
    .venv/bin/python bench/tileable.py        # all parts; writes a section of bench/RESULTS.md
    .venv/bin/python bench/tileable.py --parts quality,periodic --sheet docs/tileable-sheet.png

quality: one photo per category of the ground-truth set, a natural ``--crop`` px crop (not the
  centre, which a game texture may have made a tile), upscaled x4 by realesrgan-x4plus on the
  CPU. Measured on: the plain output; make-tileable run on the output (``make_board_ready``);
  make-tileable run on the input, then the x4 with ``seamless`` wrap padding; the classic
  cross-fade of the output with its half-offset copy. Seam score: the wrap edges
  (``wrap_seam_score``) and every pair of neighbours in the tiling that were not neighbours in
  the photo (``cut_seam_score``; for the plain output those are the wrap edges). Low-frequency
  step of a 2x2 tiling; high-pass energy in the outer 20% relative to the interior, over the
  plain output's; CIEDE2000 between the mean colour of the tile and of the plain output's same
  region. Network outputs are cached in ``bench/.cache/tileable_outputs/``.
periodic: synthetic repeats (``tests.textures.repeated_pattern``: a patch repeated 3.4 x 3.3 times
  under a +-10% light ramp and noise) at several periods, ``repeat="auto"``: the period found
  and the whole repeats kept.
maps: the material maps (wrap-around) of each made-tileable output: normal and roughness seam scores.
speed: a 256 px input through x4plus on the CPU, then make_board_ready on its 1024 px output, in
  one run (and, with ``--input-speed``, make-tileable on the input + the seamless x4).
memory: make_board_ready on a 4096 px photo in a child process: its peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import write_section  # noqa: E402
from upscaler.board import AxisLayout, BoardOptions, make_board_ready, make_tile  # noqa: E402
from upscaler.board.measures import (MAP_STEP_FLOOR, border_detail_ratio, cross_fade_tile,  # noqa: E402
                                     cut_seam_score, low_frequency_step, mean_color_delta_e, wrap_seam_score)

BENCH = Path(__file__).resolve().parent
SET = BENCH / ".cache" / "texture_set"
OUTPUTS = BENCH / ".cache" / "tileable_outputs"
MODEL = "realesrgan-x4plus"
TARGETS = {"seam": 1.25, "step": 1.5, "detail": 0.85, "delta_e": 1.0, "period": 0.01, "repeats": 0.02,
           "time": 0.25}
PERIODS = ((37.3, 41.7), (50.0, 50.0), (64.6, 29.2), (23.5, 90.25), (17.2, 19.9), (120.4, 75.1))


def photos(crop: int) -> list[tuple[str, str, np.ndarray]]:
    """(category, name, crop) for the first photo of each category, cropped off-centre."""
    found = []
    for folder in sorted(p for p in SET.iterdir() if p.is_dir()):
        path = sorted(folder.glob("*.png"))[0]
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        y, x = int(img.shape[0] * 0.3), int(img.shape[1] * 0.2)
        y, x = min(y, img.shape[0] - crop), min(x, img.shape[1] - crop)
        found.append((folder.name, path.stem, np.ascontiguousarray(img[y:y + crop, x:x + crop])))
    if not found:
        raise SystemExit(f"no images in {SET}: run bench/texture_set.py first")
    return found


class Network:
    """x4plus on the CPU, outputs cached by name."""

    def __init__(self) -> None:
        from upscaler.engine import Engine
        from upscaler.settings import get_settings
        from upscaler.zoo.registry import ModelZoo

        self.engine = Engine(ModelZoo(get_settings().models_dir), "cpu")

    def upscale(self, pixels: np.ndarray, seamless: bool = False) -> np.ndarray:
        from upscaler.engine.options import EngineOptions

        return self.engine.upscale(pixels, EngineOptions(model=MODEL, seamless=seamless))

    def cached(self, key: str, pixels: np.ndarray, seamless: bool = False) -> tuple[np.ndarray, float | None]:
        OUTPUTS.mkdir(parents=True, exist_ok=True)
        path = OUTPUTS / f"{key}.png"
        if path.is_file():
            out = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if out is not None:
                return out, None
        started = time.perf_counter()
        out = self.upscale(pixels, seamless)
        seconds = time.perf_counter() - started
        cv2.imwrite(str(path), out)
        return out, seconds


def scaled_sources(rows: np.ndarray, cols: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Source maps of a tile made at input size, for its x``scale`` output: output pixel (Y, X)
    came from the input pixel's source, the position within it kept."""
    ys, xs = np.mgrid[0:rows.shape[0] * scale, 0:rows.shape[1] * scale]
    return rows[ys // scale, xs // scale] * scale + ys % scale, cols[ys // scale, xs // scale] * scale + xs % scale


def measure(tile: np.ndarray, plain: np.ndarray, box: tuple[int, int, int, int] | None,
            sources: tuple[np.ndarray, np.ndarray] | None) -> dict[str, float]:
    x, y, w, h = box or (0, 0, plain.shape[1], plain.shape[0])
    return {"wrap": wrap_seam_score(tile),
            "cut": cut_seam_score(tile, *sources) if sources else float("nan"),
            "step": low_frequency_step(tile),
            "detail": border_detail_ratio(tile) / border_detail_ratio(plain),
            "detail_crop": border_detail_ratio(tile) / border_detail_ratio(plain[y:y + h, x:x + w]),
            "delta_e": mean_color_delta_e(plain[y:y + h, x:x + w], tile)}


def part_quality(crop: int, net: Network, input_photos: int) -> tuple[str, dict]:
    rows_out, kept = [], {}
    timings = {"plain": [], "input": []}
    results: dict[str, list[dict]] = {"plain": [], "output": [], "input": [], "cross-fade": []}
    for index, (category, name, pixels) in enumerate(photos(crop)):
        plain, seconds = net.cached(f"{name}-{crop}-plain", pixels)
        if seconds:
            timings["plain"].append(seconds)
        identity = tuple(a.astype(np.int32) for a in np.mgrid[0:plain.shape[0], 0:plain.shape[1]])
        results["plain"].append(measure(plain, plain, None, identity))

        started = time.perf_counter()
        out, report = make_board_ready(plain, BoardOptions(make_tileable=True, category=category))
        board_seconds = time.perf_counter() - started
        traced = make_tile(plain, AxisLayout.plain(plain.shape[0]), AxisLayout.plain(plain.shape[1]), trace=True)
        assert np.array_equal(traced.pixels, out)
        box = tuple(report.crop[k] for k in ("x", "y", "width", "height"))
        results["output"].append(measure(out, plain, box, (traced.source_rows, traced.source_cols)))

        if index < input_photos:   # the seamless x4 costs several times the plain one on the CPU
            small = make_tile(pixels, AxisLayout.plain(crop), AxisLayout.plain(crop), trace=True)
            digest = hashlib.sha1(small.pixels.tobytes()).hexdigest()[:10]   # the tile changes with the code
            big, seconds = net.cached(f"{name}-{crop}-input-tile-{digest}", small.pixels, seamless=True)
            if seconds:
                timings["input"].append(seconds)
            (x0, w0), (y0, h0) = AxisLayout.plain(crop).kept(small.origin[1]), AxisLayout.plain(crop).kept(small.origin[0])
            results["input"].append(measure(big, plain, (4 * x0, 4 * y0, 4 * w0, 4 * h0),
                                            scaled_sources(small.source_rows, small.source_cols, 4)))
        else:
            results["input"].append({k: float("nan") for k in results["plain"][-1]})
        results["cross-fade"].append(measure(cross_fade_tile(plain), plain, None, None))
        kept[category] = (name, plain, out, report.as_dict(), board_seconds)
        rows_out.append(f"| {category} | {name} | " + " | ".join(
            f"{results[k][-1]['wrap']:.2f} / {results[k][-1]['cut']:.2f}" if k != "cross-fade"
            else f"{results[k][-1]['wrap']:.2f}" for k in results) + " | "
            + " | ".join(f"{results[k][-1]['step']:.2f}" for k in results) + " | "
            + " | ".join(f"{results[k][-1]['detail']:.2f} / {results[k][-1]['detail_crop']:.2f}"
                         for k in ("output", "input", "cross-fade")) + " | "
            + " | ".join(f"{results[k][-1]['delta_e']:.2f}" for k in ("output", "input", "cross-fade")) + " |")
        print(rows_out[-1], flush=True)
    head = ("| category | photo | seam plain (wrap / cut) | seam, tileable on output | seam, tileable on input | "
            "seam, cross-fade (wrap) | step plain | step output | step input | step cross-fade | "
            "detail output (whole / crop) | detail input | detail cross-fade | dE output | dE input | dE cross-fade |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")

    def verdict(kind: str) -> list[str]:
        rows = [r for r in results[kind] if r["step"] == r["step"]]   # NaN: not measured
        if not rows:
            return [f"- {kind}: not measured in this run"]
        seam = max(max(r["wrap"], r["cut"] if r["cut"] == r["cut"] else 0) for r in rows)
        checks = [(f"seam score (max of wrap and cut) <= {TARGETS['seam']} on every image", seam <= TARGETS["seam"], seam),
                  (f"low-frequency step <= {TARGETS['step']} on every image",
                   max(r["step"] for r in rows) <= TARGETS["step"], max(r["step"] for r in rows)),
                  (f"border detail >= {TARGETS['detail']} of the plain output's (whole) on every image",
                   min(r["detail"] for r in rows) >= TARGETS["detail"], min(r["detail"] for r in rows)),
                  (f"border detail >= {TARGETS['detail']} of the plain output's same crop on every image",
                   min(r["detail_crop"] for r in rows) >= TARGETS["detail"], min(r["detail_crop"] for r in rows)),
                  (f"mean-colour CIEDE2000 <= {TARGETS['delta_e']} (mean over images)",
                   statistics.fmean(r["delta_e"] for r in rows) <= TARGETS["delta_e"],
                   statistics.fmean(r["delta_e"] for r in rows))]
        return [f"- {kind} ({len(rows)} photos): {name}: {value:.2f} — **{'holds' if ok else 'does not hold'}**"
                for name, ok, value in checks]

    board = [v[4] for v in kept.values()]
    body = [f"{len(kept)} photos (one per category of `bench/texture_set.py`), a {crop} px crop at 30% down / 20% "
            f"across, x4 by {MODEL} on the CPU ({crop * 4} px outputs). Seam: wrap edges / cuts (every pair of "
            f"neighbours in the tiling that were not neighbours in the photo). Detail: high-pass energy of the outer "
            f"20% over the interior, relative to the plain output's, whole / the same crop as the tile's (the tile is "
            f"a crop: what lies outside it is not the cut's doing). dE: CIEDE2000 of the mean colours (tile vs the "
            f"plain output's same region).", "", head, *rows_out, "",
            *verdict("output"), *verdict("input"), *verdict("cross-fade"), "",
            f"make_board_ready on a {crop * 4} px output: mean {statistics.fmean(board):.2f} s; x4 of a {crop} px input "
            + (f"{statistics.fmean(timings['plain']):.1f} s, of the made-tileable input with seamless "
               f"{statistics.fmean(timings['input']):.1f} s (computed in this run)" if timings["plain"] and timings["input"]
               else "from the cache of an earlier run")]
    return "\n".join(body), {"kept": kept, "results": results}


def part_periodic() -> str:
    from tests.textures import repeated_pattern

    lines = ["| period (down x across, px) | image | found | error | tile | repeats | off a whole number |",
             "|---|---|---|---|---|---|---|"]
    worst_period, worst_repeats = 0.0, 0.0
    for scale in (1, 4):
        for period in PERIODS:
            img = repeated_pattern(period, (3.3, 3.4))
            if scale > 1:
                img = cv2.resize(img, (img.shape[1] * scale, img.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
            true = (period[0] * scale, period[1] * scale)
            out, report = make_board_ready(img, BoardOptions(repeat="auto"))
            found = report.period_px
            if None in found:
                lines.append(f"| {true[0]:g} x {true[1]:g} | {img.shape[0]}x{img.shape[1]} | not found | | | | |")
                worst_period = worst_repeats = float("inf")
                continue
            errors = [found[1] / true[0] - 1, found[0] / true[1] - 1]
            counts = [out.shape[0] / true[0], out.shape[1] / true[1]]
            off = [c / round(c) - 1 for c in counts]
            worst_period = max(worst_period, *map(abs, errors))
            worst_repeats = max(worst_repeats, *map(abs, off))
            lines.append(f"| {true[0]:g} x {true[1]:g} | {img.shape[0]}x{img.shape[1]} | {found[1]:.2f} x {found[0]:.2f} "
                         f"| {errors[0]:+.2%} / {errors[1]:+.2%} | {out.shape[0]}x{out.shape[1]} | "
                         f"{counts[0]:.3f} x {counts[1]:.3f} | {off[0]:+.2%} / {off[1]:+.2%} |")
    lines += ["", f"- period within {TARGETS['period']:.0%}: worst {worst_period:.2%} — "
              f"**{'holds' if worst_period <= TARGETS['period'] else 'does not hold'}**",
              f"- whole number of repeats within {TARGETS['repeats']:.0%}: worst {worst_repeats:.2%} — "
              f"**{'holds' if worst_repeats <= TARGETS['repeats'] else 'does not hold'}**"]
    return ("Synthetic repeats (`tests.textures.repeated_pattern`: a natural-texture patch repeated 3.3 x 3.4 times, "
            "+-10% light ramp across and +-5% down, noise of 3 levels), as made and enlarged x4 (bicubic), "
            "`repeat=\"auto\"` (as many whole repeats as fit):\n\n" + "\n".join(lines))


def part_maps(kept: dict) -> str:
    from upscaler.materials import MapOptions, MaterialMaps

    lines = ["| category | normal (wrap / cut) | roughness (wrap / cut) | mean neighbour step (code values) "
             "normal / roughness | raw ratio, where the floor binds |", "|---|---|---|---|---|"]
    worst = 0.0
    for category, (name, plain, out, _, _) in kept.items():
        traced = make_tile(plain, AxisLayout.plain(plain.shape[0]), AxisLayout.plain(plain.shape[1]), trace=True)
        scores, steps, raw = {}, {}, []
        for m in MaterialMaps(out, MapOptions(category=category, seamless=True, maps=("normal", "roughness"))):
            pixels = m.pixels.astype(np.float64)
            steps[m.name] = (np.abs(np.diff(pixels, axis=1)).mean() + np.abs(np.diff(pixels, axis=0)).mean()) / 2
            scores[m.name] = (wrap_seam_score(m.pixels, MAP_STEP_FLOOR),
                              cut_seam_score(m.pixels, traced.source_rows, traced.source_cols, MAP_STEP_FLOOR))
            if steps[m.name] < MAP_STEP_FLOOR:
                raw.append(f"{m.name} {wrap_seam_score(m.pixels):.2f} / "
                           f"{cut_seam_score(m.pixels, traced.source_rows, traced.source_cols):.2f}")
        worst = max(worst, *(max(v) for v in scores.values()))
        lines.append(f"| {category} | {scores['normal'][0]:.2f} / {scores['normal'][1]:.2f} | "
                     f"{scores['roughness'][0]:.2f} / {scores['roughness'][1]:.2f} | "
                     f"{steps['normal']:.3f} / {steps['roughness']:.3f} | {'; '.join(raw) or '-'} |")
    lines += ["", f"- normal and roughness seam scores <= {TARGETS['seam']}: worst {worst:.2f} — "
              f"**{'holds' if worst <= TARGETS['seam'] else 'does not hold'}**"]
    return (f"Maps (`MaterialMaps`, `seamless=True`) of each output made tileable. Seam scores of these 8-bit maps "
            f"count the mean neighbour step as at least {MAP_STEP_FLOOR} code value (`MAP_STEP_FLOOR`): a map "
            "flatter than that cannot show a seam below one code value, and its plain ratio says where the "
            "rounding flips fall; the plain ratios of such maps are listed too.\n\n" + "\n".join(lines))


def part_speed(net: Network, input_speed: bool) -> str:
    from bench.common import photo_like

    pixels = photo_like(256)
    net.upscale(pixels[:64, :64])   # load and warm up
    plain_s, board_s, seamless_s = [], [], []
    for _ in range(1):   # one run: the machine is shared, each x4 takes a minute
        started = time.perf_counter()
        out = net.upscale(pixels)
        plain_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        make_board_ready(out, BoardOptions(make_tileable=True))
        board_s.append(time.perf_counter() - started)
    lines = [f"x4plus on a 256 px input (CPU): {min(plain_s):.1f} s (one run); make_board_ready on its 1024 px "
             f"output: {min(board_s):.2f} s: **+{min(board_s) / min(plain_s):.1%}** of the job's network time "
             f"(target <= {TARGETS['time']:.0%}: **{'holds' if min(board_s) / min(plain_s) <= TARGETS['time'] else 'does not hold'}**)."]
    if input_speed:
        started = time.perf_counter()
        tile = make_tile(pixels, AxisLayout.plain(256), AxisLayout.plain(256)).pixels
        net.upscale(tile, seamless=True)
        seamless_s.append(time.perf_counter() - started)
        lines.append(f"Make-tileable on the input and the x4 with seamless wrap padding instead: {seamless_s[0]:.1f} s, "
                     f"{seamless_s[0] / min(plain_s):.2f}x the plain job.")
    return "\n".join(lines)


MEMORY_CHILD = """
import sys, time, tracemalloc
sys.path.insert(0, {root!r})
import cv2
from upscaler.board import BoardOptions, make_board_ready

def status(key):   # kB, from the kernel's account of this process
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

pixels = cv2.imread({path!r}, cv2.IMREAD_COLOR)
with open("/proc/self/clear_refs", "w") as f:   # 5: reset the peak RSS (VmHWM) to the RSS now
    f.write("5")
before = status("VmRSS")
tracemalloc.start()
started = time.perf_counter()
out, report = make_board_ready(pixels, BoardOptions(make_tileable=True))
seconds = time.perf_counter() - started
traced = tracemalloc.get_traced_memory()[1]
print(before, status("VmHWM"), traced, seconds, out.shape[0], out.shape[1])
"""
MEMORY_SIZES = (1024, 2048, 4096)
MEMORY_TARGET = 8    # x the photo's bytes at the largest size: its corrected copies, one channel's float strips, a bounded graph


def part_memory() -> str:
    """Peak memory of make_board_ready in a fresh process per size, the photo read from a PNG (so
    that what made it is not counted): the peak RSS during the call (Linux's VmHWM, reset just
    before it) over the RSS before it (numpy, OpenCV, PyMaxflow and SciPy alike), and the peak of
    the numpy/Python allocations (tracemalloc) alone."""
    from bench.common import photo_like

    lines = ["| photo | photo MiB | RSS before the call | peak RSS added by the call | x the photo | "
             "peak traced (numpy) | x the photo | seconds | output |", "|---|---|---|---|---|---|---|---|---|"]
    ratios = []
    with tempfile.TemporaryDirectory() as folder:
        for size in MEMORY_SIZES:
            path = str(Path(folder) / f"photo-{size}.png")
            cv2.imwrite(path, photo_like(size))
            run = subprocess.run([sys.executable, "-c", MEMORY_CHILD.format(root=str(BENCH.parent), path=path)],
                                 capture_output=True, text=True, check=True)
            before, peak, traced, seconds, height, width = run.stdout.split()
            image_mib = size * size * 3 / 2**20
            added = (int(peak) - int(before)) / 1024   # kB
            ratios.append(added / image_mib)
            lines.append(f"| {size}x{size} BGR uint8 | {image_mib:.0f} | {int(before) / 1024:.0f} MiB | {added:.0f} MiB | "
                         f"{added / image_mib:.1f} | {int(traced) / 2**20:.0f} MiB | {int(traced) / 2**20 / image_mib:.1f} | "
                         f"{float(seconds):.1f} | {width}x{height} |")
    bounded = ratios[-1] <= MEMORY_TARGET
    lines += ["", f"- memory bounded: the call's peak RSS over the photo is {', '.join(f'{r:.1f}x' for r in ratios)} at "
              f"{', '.join(map(str, MEMORY_SIZES))} px (the smaller sizes carry the libraries' first use, a fixed "
              f"few tens of MiB); target at {MEMORY_SIZES[-1]} px: at most {MEMORY_TARGET}x the photo — "
              f"**{'holds' if bounded else 'does not hold'}**"]
    return ("make_board_ready(make_tileable) in a fresh process per size, the photo read from a PNG "
            "(`bench.common.photo_like`):\n\n" + "\n".join(lines))


from upscaler.evaluation.tileable_sheet import tiled_cell as sheet_cell  # noqa: E402


def write_sheet(path: Path, kept: dict) -> None:
    """For each category the output tiled 2x2 before and after make-tileable; then repeat="auto"
    on whole photos that repeat."""


    pairs = [np.hstack([sheet_cell(plain, (f"{category}: photo x4", "tiled 2x2")),
                        sheet_cell(out, ("made tileable", f"crop {report['crop_fraction'][0]:.0%}"))])
             for category, (name, plain, out, report, _) in kept.items()]
    for folder, name in (("tiles", "ufoai-tiles-g2"), ("fabric", "ufoai-textil003"), ("brick", "ufoai-wall-brick01")):
        photo = cv2.imread(str(SET / folder / f"{name}.png"), cv2.IMREAD_COLOR)
        photo = photo[:min(photo.shape[:2]) * 3 // 4, :min(photo.shape[:2]) * 3 // 4]   # not a whole tile any more
        out, report = make_board_ready(photo, BoardOptions(repeat="auto", category=folder))
        periods = " x ".join("-" if p is None else f"{p:.0f}" for p in (report.period_px or [None, None]))
        pairs.append(np.hstack([sheet_cell(photo, (f"{folder}: photo", "tiled 2x2")),
                                sheet_cell(out, ("repeat auto", f"period {periods} px"))]))
    per_row = 3
    while len(pairs) % per_row:
        pairs.append(np.full_like(pairs[0], 255))
    sheet = np.vstack([np.hstack(pairs[i:i + per_row]) for i in range(0, len(pairs), per_row)])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"sheet: {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="quality,periodic,maps,speed,memory")
    parser.add_argument("--crop", type=int, default=128, help="px of each photo (the network's input); default 128")
    parser.add_argument("--sheet", type=Path, help="also write the docs sheet PNG here")
    parser.add_argument("--input-speed", action="store_true", help="also time make-tileable on the input + seamless x4")
    parser.add_argument("--input-photos", type=int, default=4,
                        help="photos that also get make-tileable on the input + the seamless x4; default 4")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    parts = args.parts.split(",")
    net = Network() if {"quality", "speed", "maps"} & set(parts) else None
    sections, kept = [], {}
    if "quality" in parts or "maps" in parts:
        text, data = part_quality(args.crop, net, args.input_photos)
        kept = data["kept"]
        if "quality" in parts:
            sections.append(text)
    if "maps" in parts:
        sections.append(part_maps(kept))
    if "periodic" in parts:
        sections.append(part_periodic())
    if "speed" in parts:
        sections.append(part_speed(net, args.input_speed))
    if "memory" in parts:
        sections.append(part_memory())
    if args.sheet:
        write_sheet(args.sheet, kept)
    body = "\n\n".join(sections + [f"Command: `.venv/bin/python bench/tileable.py {' '.join(sys.argv[1:])}`"])
    print(body)
    if not args.no_write:
        write_section("Board-ready tiles: make-tileable, repeats, PBR check (CPU)", body)


if __name__ == "__main__":
    main()
