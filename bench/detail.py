"""What the detail blend costs: one image at detail 0 (the model alone), 1 (the detail model
alone) and 0.5 (both networks on every tile batch, mixed before assembly).

    .venv/bin/python bench/detail.py                   # CPU, small: writes bench/RESULTS.md
    .venv/bin/python bench/detail.py --device cuda --size 1024 --title "Detail blend cost (CUDA)"

Each setting runs once untimed on a small crop (allocations, lazy initialisation), then the
settings take turns ``--repeats`` times (so a change in the machine's load hits them alike); the
best time of each counts. The blend should cost about the two networks' sum: the mix itself is
one multiply-add per output pixel. The script also checks that the blend is the weighted mean of
the two models' own outputs (PSNR, 8-bit levels).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import photo_like, write_section  # noqa: E402
from upscaler.engine import Engine  # noqa: E402
from upscaler.evaluation.image_metrics import psnr  # noqa: E402
from upscaler.engine.options import EngineOptions  # noqa: E402
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD, get_settings  # noqa: E402
from upscaler.zoo.names import DEFAULT_MODEL, TEXTURE_MODEL  # noqa: E402
from upscaler.zoo.registry import ModelZoo  # noqa: E402

BLEND = 0.5
SETTINGS = (0.0, 1.0, BLEND)
# Within this factor of the two models' summed time, the blend "costs about both".
ABOUT = 1.25


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--size", type=int, default=64, help="input edge in pixels")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--tile", type=int, default=DEFAULT_TILE)
    parser.add_argument("--tile-pad", type=int, default=DEFAULT_TILE_PAD)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--detail-model", default=TEXTURE_MODEL)
    parser.add_argument("--title", default="Detail blend cost (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    settings = get_settings()  # auto precision: measured once per machine and model, then kept
    engine = Engine.from_settings(ModelZoo(settings.models_dir), settings, args.device, args.precision)
    image = photo_like(args.size)
    options, ran = {}, {}
    for detail in SETTINGS:
        options[detail] = EngineOptions(model=args.model, detail_model=args.detail_model, detail=detail,
                                    tile=args.tile, tile_pad=args.tile_pad)
        tiles = engine.tile_network(options[detail])  # loads (and calibrates) what it needs, untimed
        ran[detail] = " + ".join(f"{part.network.name} ({part.precision})" for part in tiles.parts)
        engine.upscale(image[:16, :16], options[detail])
    seconds, outputs = {d: float("inf") for d in SETTINGS}, {}
    for round_ in range(args.repeats):
        for detail in SETTINGS:
            start = time.perf_counter()
            outputs[detail] = engine.upscale(image, options[detail])
            seconds[detail] = min(seconds[detail], time.perf_counter() - start)
            print(f"round {round_ + 1}, detail {detail:g}: {ran[detail]:<56} "
                  f"{time.perf_counter() - start:7.3f} s", flush=True)

    model_alone, detail_alone, blend = (seconds[d] for d in SETTINGS)
    both = model_alone + detail_alone
    mean = (1 - BLEND) * outputs[0.0].astype(np.float64) + BLEND * outputs[1.0].astype(np.float64)
    agreement = psnr(outputs[BLEND], mean, 255)
    rows = "\n".join(f"| {d:g} | {ran[d]} | {seconds[d]:.3f} | {seconds[d] / model_alone:.2f} |"
                     for d in SETTINGS)
    table = ("| detail | networks run (precision) | seconds, best of "
             f"{args.repeats} | vs the model alone |\n|---|---|---|---|\n{rows}")
    if 1 / ABOUT <= blend / both <= ABOUT:
        reading = "about both networks' time, as expected (the mix itself is one multiply-add per pixel)"
    else:
        reading = f"more than {ABOUT:g}x off the sum, so the machine's load moved; run it again"
    verdict = (f"The blend at {BLEND:g} took {blend:.3f} s, {blend / both:.2f}x the sum of the two models "
               f"alone ({model_alone:.3f} + {detail_alone:.3f} = {both:.3f} s): {reading}. Detail 1 runs "
               f"the detail model alone. The blend is {agreement:.1f} dB from the weighted mean of the two "
               f"models' own outputs.")
    print(table)
    print(verdict)
    if not args.no_write:
        setup = (f"One {args.size}x{args.size} photo-like image (`bench.common.photo_like`), "
                 f"tile={args.tile} pad={args.tile_pad}, {args.device}, precision {args.precision}.")
        write_section(args.title, f"{setup}\n\n{table}\n\n{verdict}\n\n"
                                  f"Command: `{' '.join(['.venv/bin/python', 'bench/detail.py', *sys.argv[1:]])}`")


if __name__ == "__main__":
    main()
