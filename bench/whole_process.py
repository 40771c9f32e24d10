"""Whole processes, as a user runs them: ``upscaler upscale`` against Real-ESRGAN's own script.

    .venv/bin/python bench/whole_process.py              # writes bench/RESULTS.md
    .venv/bin/python bench/whole_process.py --repeats 3 --no-write

Six 128x128 material swatches: the three colour swatches in samples/colour and 128x128 centre
crops of the gray photographs samples/brick, grass and gravel. Each side runs as a new process,
timed from its start to its exit: Python's start-up, the imports (torch, basicsr), loading the
weights, then every swatch read, upscaled x4 and written as a PNG.

- Ours: ``upscaler upscale SWATCHES -o OUT`` with its defaults (``--precision auto``, tile 200,
  images in flight), model realesrgan-x4plus, already imported into the zoo. Its first run in a
  data dir measures the precision and caches it (engine/calibration.py): timed and shown apart;
  the later runs read the cache, as every run after a user's first does.
- The reference: what Real-ESRGAN's ``inference_realesrgan.py`` does with its defaults on a CPU
  (``--fp32``): ``RealESRGANer(tile=0, tile_pad=10, pre_pad=0, half=False)``, cv2 in and out,
  with the same x4plus weights our zoo converted, saved as the ``.pth`` it reads (this script
  with ``--reference-run`` is that process). Its output is the network's exact fp32 output.

Runs alternate (reference, ours, reference, ours, ...) so that a change in the machine's load
touches both. Quality: PSNR of our outputs against the reference's fp32 outputs. Also timed: the
start-up of the commands that load no model (``--help``, ``status``, ``models list``).
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
LIGHT_COMMANDS = (["--help"], ["status"], ["models", "list"])


def reference_run(swatches: Path, out: Path, weights: Path) -> None:
    """The reference process: Real-ESRGAN's inference script, its CPU defaults, our weights."""
    sys.path.insert(0, str(REPO))
    import cv2
    import upscaler.compat  # noqa: F401  (basicsr needs it with today's torchvision)
    from basicsr.archs.rrdbnet_arch import RRDBNet
    from realesrgan import RealESRGANer


    net = RRDBNet(num_in_ch=3, num_out_ch=3, num_feat=64, num_block=23, num_grow_ch=32, scale=4)
    upsampler = RealESRGANer(scale=4, model_path=str(weights), model=net, tile=0, tile_pad=10, pre_pad=0,
                             half=False, device="cpu")
    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(swatches.glob("*.png")):
        output, _ = upsampler.enhance(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), outscale=4)
        cv2.imwrite(str(out / path.name), output)


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
    state, swatches = WORK / "state", WORK / "swatches"
    env = {**os.environ, "UPSCALER_DATA_DIR": str(state)}
    env.pop("UPSCALER_PRECISION", None)
    names = make_swatches(swatches)
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

    def ours(out: Path) -> list[str]:
        shutil.rmtree(out, ignore_errors=True)
        return [upscaler_cli, "upscale", str(swatches), "-o", str(out), "--model", MODEL, "--json"]

    def reference(out: Path) -> list[str]:
        shutil.rmtree(out, ignore_errors=True)
        return [sys.executable, __file__, "--reference-run", str(swatches), str(out), str(weights)]

    first, _ = timed(ours(WORK / "ours"), env)
    print(f"ours, first run (measures the precision): {first:.1f} s", flush=True)
    times: dict[str, list[float]] = {"reference": [], "ours": []}
    for run in range(args.repeats):
        for side, command in (("reference", reference(WORK / "reference")), ("ours", ours(WORK / "ours"))):
            seconds, stdout = timed(command, env)
            times[side].append(seconds)
            print(f"{side} run {run + 1}: {seconds:.1f} s", flush=True)
    report = json.loads(stdout)  # ours ran last
    assert report["images"] == len(names) and report["failed"] == 0, report
    light = {" ".join(c): [timed([upscaler_cli, *c], env)[0] for _ in range(3)] for c in LIGHT_COMMANDS}
    load_after = os.getloadavg()
    dbs = quality(WORK / "ours", WORK / "reference")
    chosen = report["precision"]

    best = {side: min(values) for side, values in times.items()}
    rows = [f"| Real-ESRGAN's script (fp32, tile 0) | {best['reference']:.1f} | "
            f"{statistics.median(times['reference']):.1f} | 1.00 |",
            f"| `upscaler upscale` (auto -> {chosen}, cached) | {best['ours']:.1f} | "
            f"{statistics.median(times['ours']):.1f} | {best['reference'] / best['ours']:.2f} |",
            f"| `upscaler upscale`, first run in a data dir (measures the precision) | {first:.1f} | - | "
            f"{best['reference'] / first:.2f} |"]
    table = ("| process | best wall s | median wall s | speed-up (best vs best) |\n|---|---|---|---|\n"
             + "\n".join(rows))
    light_table = ("| command | best wall s | median wall s |\n|---|---|---|\n"
                   + "\n".join(f"| `upscaler {c}` | {min(v):.2f} | {statistics.median(v):.2f} |"
                               for c, v in light.items()))
    verdict = (f"Our whole process is {best['reference'] / best['ours']:.2f}x as fast as the reference's for "
               f"the six swatches (best runs); our outputs are {min(dbs):.1f} dB (worst) / "
               f"{statistics.mean(dbs):.1f} dB (mean) PSNR from the reference's fp32 outputs.")
    load = (f"Load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after, on "
            f"{len(os.sched_getaffinity(0))} cores shared with other work: timings are noisy.")
    print(table, light_table, verdict, load, sep="\n\n")
    if not args.no_write:
        from bench.common import write_section

        command = f".venv/bin/python bench/whole_process.py {' '.join(sys.argv[1:])}".strip()
        write_section(args.title, f"Swatches ({SWATCH}x{SWATCH}): {', '.join(names)}; model {MODEL}; "
                                  f"{args.repeats} timed runs of each side, alternating.\n\n{table}\n\n"
                                  f"{verdict}\n\nCommands that load no model:\n\n{light_table}\n\n{load}\n\n"
                                  f"Command: `{command}`")


if __name__ == "__main__":
    main()
