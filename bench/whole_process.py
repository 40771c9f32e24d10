"""Whole processes, as a user runs them: ``upscaler upscale`` against Real-ESRGAN's own script.

    .venv/bin/python bench/whole_process.py              # writes bench/RESULTS.md
    .venv/bin/python bench/whole_process.py --repeats 3 --no-write

Six 128x128 material swatches: the three colour swatches in samples/colour and 128x128 centre
crops of the gray photographs samples/brick, grass and gravel; and, apart, one 16x16 swatch (a
process that is nearly all start-up). Each side runs as a new process, timed from its start to
its exit: Python's start-up, the imports, loading the weights, then every swatch read, upscaled
x4 and written as a PNG.

- Ours: ``upscaler upscale SWATCHES -o OUT`` with its defaults (``--precision auto``, tile 200,
  images in flight, ``UPSCALER_CPU_RUNTIME=auto``: OpenVINO where it loads), model
  realesrgan-x4plus, already imported into the zoo; and, for comparison, the same on torch
  (``UPSCALER_CPU_RUNTIME=torch``). The first run in a data dir converts the model for OpenVINO
  and measures the precision, and caches both (engine/openvino_cache.py, engine/calibration.py):
  timed and shown apart; the later runs read the caches, as every run after a user's first does.
- The reference: Real-ESRGAN's ``inference_realesrgan.py`` on a CPU (``--fp32``) with tile 200, as
  the study ran: ``RealESRGANer(tile=200, tile_pad=10, pre_pad=0, half=False)`` (a 128 px swatch
  is one tile), cv2 in and out, with the same x4plus weights our zoo converted, saved as the
  ``.pth`` it reads (this script with ``--reference-run`` is that process). Its output is the
  network's exact fp32 output.

Runs alternate (reference, ours, ours on torch, reference, ...) so that a change in the machine's
load touches every side. Quality: PSNR of our outputs against the reference's fp32 outputs. Also
timed: the start-up of the commands that load no model (``--help``, ``status``, ``models list``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "bench" / ".cache" / "whole_process"
MODEL = "realesrgan-x4plus"
SWATCH = 128
TINY = 16            # px: the one-image process, nearly all start-up
REFERENCE_TILE = 200
LIGHT_COMMANDS = (["--help"], ["status"], ["models", "list"])


def reference_run(swatches: Path, out: Path, weights: Path) -> None:
    """The reference process: Real-ESRGAN's inference script, its CPU defaults, our weights."""
    sys.path.insert(0, str(REPO))
    import cv2
    import upscaler.compat  # noqa: F401  (basicsr needs it with today's torchvision)
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from realesrgan import RealESRGANer


    net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    upsampler = RealESRGANer(scale=4, model_path=str(weights), model=net, tile=REFERENCE_TILE, tile_pad=10,
                             pre_pad=0, half=False, device="cpu")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(swatches.glob("*.png")):
        output, _ = upsampler.enhance(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), outscale=4)
        cv2.imwrite(str(out / path.name), output)


def make_tiny_swatch(folder: Path) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    photo = cv2.imread(str(REPO / "samples" / "gravel.png"), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(folder / "gravel-16.png"), photo[:TINY, :TINY])


def make_swatches(folder: Path) -> list[str]:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted((REPO / "samples" / "colour").glob("*.png")):
        shutil.copyfile(path, folder / path.name)
        names.append(path.stem)
    for name in ("brick", "grass", "gravel"):
        photo = cv2.imread(str(REPO / "samples" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        top, left = (photo.shape[0] - SWATCH) // 2, (photo.shape[1] - SWATCH) // 2
        cv2.imwrite(str(folder / f"{name}.png"), photo[top:top + SWATCH, left:left + SWATCH])
        names.append(f"{name} (gray)")
    for path in folder.glob("*.png"):
        shape = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).shape
        assert shape[:2] == (SWATCH, SWATCH), (path, shape)
    return names


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one whole process, and its stdout; its stderr is shown only if it fails."""
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return seconds, result.stdout


def quality(ours: Path, reference: Path) -> list[float]:
    """PSNR (dB) of each of our outputs against the reference's."""
    import cv2
    import numpy as np

    from upscaler.evaluation.image_metrics import psnr

    values = []
    for path in sorted(reference.glob("*.png")):
        a, b = (cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in (ours / path.name, path))
        assert a is not None and a.shape == b.shape, (path.name, None if a is None else a.shape, b.shape)
        values.append(psnr(a.astype(np.float64) / 255, b.astype(np.float64) / 255))
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs of each side after the first")
    parser.add_argument("--title", default="Whole process: upscaler upscale vs Real-ESRGAN's script (CPU)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--reference-run", nargs=3, type=Path, metavar=("SWATCHES", "OUT", "WEIGHTS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_run:
        reference_run(*args.reference_run)
        return

    sys.path.insert(0, str(REPO))
    upscaler_cli = str(Path(sys.executable).parent / "upscaler")
    state, swatches, tiny = WORK / "state", WORK / "swatches", WORK / "tiny"
    env = {**os.environ, "UPSCALER_DATA_DIR": str(state)}
    env.pop("UPSCALER_PRECISION", None)
    env.pop("UPSCALER_CPU_RUNTIME", None)
    names = make_swatches(swatches)
    make_tiny_swatch(tiny)
    load_before = os.getloadavg()

    # Untimed set-up: the model converted into this data dir, its weights as the reference reads them.
    subprocess.run([upscaler_cli, "models", "import", MODEL], env=env, check=True, capture_output=True)
    weights = WORK / f"{MODEL}.pth"
    if not weights.exists():
        import torch

        from bench.engine import reference_class
        from upscaler.zoo.registry import ModelZoo

        reference_class()  # installs the realesrgan package (no dependencies) where it is missing
        torch.save({"params_ema": ModelZoo(state / "models").load(MODEL)[1]}, weights)
    shutil.rmtree(state / "calibration", ignore_errors=True)
    shutil.rmtree(state / "openvino", ignore_errors=True)
    envs = {"ours": env, "ours on torch": {**env, "UPSCALER_CPU_RUNTIME": "torch"}, "reference": env}

    def ours(source: Path, out: Path) -> list[str]:
        shutil.rmtree(out, ignore_errors=True)
        return [upscaler_cli, "upscale", str(source), "-o", str(out), "--model", MODEL, "--json"]

    def reference(source: Path, out: Path) -> list[str]:
        shutil.rmtree(out, ignore_errors=True)
        return [sys.executable, __file__, "--reference-run", str(source), str(out), str(weights)]

    def command(side: str, source: Path, out: Path) -> list[str]:
        return reference(source, out) if side == "reference" else ours(source, out)

    first, _ = timed(ours(swatches, WORK / "ours"), env)
    print(f"ours, first run (converts the model, measures the precision): {first:.1f} s", flush=True)
    timed(ours(swatches, WORK / "ours on torch"), envs["ours on torch"])  # its own calibration, untimed
    sides = ("reference", "ours", "ours on torch")
    times: dict[str, list[float]] = {side: [] for side in sides}
    tiny_times: dict[str, list[float]] = {side: [] for side in sides}
    reports = {}
    for run in range(args.repeats):
        for side in sides:
            seconds, stdout = timed(command(side, swatches, WORK / side), envs[side])
            times[side].append(seconds)
            if side != "reference":
                reports[side] = json.loads(stdout)
            tiny_seconds, _ = timed(command(side, tiny, WORK / f"{side} tiny"), envs[side])
            tiny_times[side].append(tiny_seconds)
            print(f"{side} run {run + 1}: six swatches {seconds:.1f} s, one {TINY} px swatch {tiny_seconds:.1f} s",
                  flush=True)
    for side, report in reports.items():
        assert report["images"] == len(names) and report["failed"] == 0, report
    assert reports["ours"]["runtime"] == "openvino" and reports["ours on torch"]["runtime"] == "torch", reports
    light = {" ".join(c): [timed([upscaler_cli, *c], env)[0] for _ in range(3)] for c in LIGHT_COMMANDS}
    load_after = os.getloadavg()
    dbs = {side: quality(WORK / side, WORK / "reference") for side in ("ours", "ours on torch")}

    best = {side: min(values) for side, values in times.items()}
    tiny_best = {side: min(values) for side, values in tiny_times.items()}

    def row(label: str, side: str) -> str:
        worst = f"{min(dbs[side]):.1f}" if side in dbs else "-"
        return (f"| {label} | {best[side]:.1f} | {statistics.median(times[side]):.1f} | "
                f"{best['reference'] / best[side]:.2f} | {worst} | {tiny_best[side]:.2f} | "
                f"{tiny_best[side] / tiny_best['reference']:.2f} |")

    precision = {side: reports[side]["precision"] for side in reports}
    rows = [row(f"Real-ESRGAN's script (fp32, tile {REFERENCE_TILE})", "reference"),
            row(f"`upscaler upscale` (OpenVINO, auto -> {precision['ours']}, cached)", "ours"),
            row(f"`upscaler upscale` on torch (auto -> {precision['ours on torch']}, cached)", "ours on torch"),
            f"| `upscaler upscale`, first run in a data dir (converts, measures the precision) | {first:.1f} | - | "
            f"{best['reference'] / first:.2f} | - | - | - |"]
    table = ("| process | six swatches: best wall s | median wall s | speed-up (best vs best) | worst PSNR to the "
             f"reference (dB) | one {TINY} px swatch: best wall s | its time / the reference's |\n"
             "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    light_table = ("| command | best wall s | median wall s |\n|---|---|---|\n"
                   + "\n".join(f"| `upscaler {c}` | {min(v):.2f} | {statistics.median(v):.2f} |"
                               for c, v in light.items()))
    verdict = (f"Our whole process is {best['reference'] / best['ours']:.2f}x as fast as the reference's for "
               f"the six swatches (best runs; {best['reference'] / best['ours on torch']:.2f}x on torch); our "
               f"outputs are {min(dbs['ours']):.1f} dB (worst) / {statistics.mean(dbs['ours']):.1f} dB (mean) PSNR "
               f"from the reference's fp32 outputs. One {TINY} px swatch takes "
               f"{tiny_best['ours'] / tiny_best['reference']:.2f}x the reference's time.")
    load = (f"Load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after, on "
            f"{len(os.sched_getaffinity(0))} cores shared with other work: timings are noisy.")
    print(table, light_table, verdict, load, sep="\n\n")
    if not args.no_write:
        from bench.common import write_section

        command_line = f".venv/bin/python bench/whole_process.py {' '.join(sys.argv[1:])}".strip()
        write_section(args.title, f"Swatches ({SWATCH}x{SWATCH}): {', '.join(names)}; and one {TINY}x{TINY} "
                                  f"swatch (gravel) on its own; model {MODEL}; {args.repeats} timed runs of each "
                                  f"side, alternating.\n\n{table}\n\n{verdict}\n\nCommands that load no model:"
                                  f"\n\n{light_table}\n\n{load}\n\nCommand: `{command_line}`")


if __name__ == "__main__":
    main()
