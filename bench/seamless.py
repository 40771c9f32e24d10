"""Seamless mode against its ideal, and what it costs.

    .venv/bin/python bench/seamless.py                    # the bundled samples and five texture crops
    .venv/bin/python bench/seamless.py samples/colour/*.png --no-write   # some of them, print only

The ideal of ``--seamless`` is what the network makes of the texture repeated without end (the
centre of the upscaled 3x3 tiling approximates it). :func:`torus_ideal` computes it exactly and at
the cost of the image alone: the network run once on the whole image with every convolution
padded circularly, so that each layer sees the image as a torus, which is what an endless tiling
is to a translation-invariant network (nearest-neighbour upsampling keeps the period).

For each image the script scores the engine's seamless output against that ideal (PSNR, and the
wrap-around seam score against the ideal's, ``upscaler.evaluation.image_metrics.wrap_seam_score``) and times the
seamless and the plain run of the same image, interleaved, to give the seamless path's cost as a
ratio. Everything runs in fp32 on the CPU, so that the numbers measure tiling, not precision.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CROPS = ROOT / "tests" / "data" / "texture_crops"


def torus_ideal(zoo, model: str, pixels: np.ndarray) -> np.ndarray:
    """The network's output for ``pixels`` (BGR uint8) tiled endlessly, one period of it (BGR
    uint8, the network's scale): every convolution of the network padded circularly, fp32, CPU."""
    from upscaler.zoo.archs import build

    info, state = zoo.load(model)
    net = build(info.spec, state).float()
    for layer in net.modules():
        if isinstance(layer, torch.nn.Conv2d) and layer.padding != (0, 0):
            layer.padding_mode = "circular"
    rgb = np.ascontiguousarray(pixels[:, :, ::-1], dtype=np.float32) / 255
    with torch.inference_mode():
        out = net(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0].permute(1, 2, 0).numpy()
    return np.ascontiguousarray(np.rint(np.clip(out, 0, 1) * 255).astype(np.uint8)[:, :, ::-1])


def images(paths: list[Path]) -> dict[str, np.ndarray]:
    """The images by name: ``paths``, or the bundled samples (all of them) and the texture crops."""
    paths = [p.resolve() for p in paths] or sorted(SAMPLES.rglob("*.png")) + sorted(CROPS.glob("*.png"))
    return {str(p.relative_to(ROOT)): cv2.imread(str(p), cv2.IMREAD_COLOR) for p in paths}


def main() -> None:
    from upscaler.engine import Engine
    from upscaler.engine.options import EngineOptions
    from upscaler.evaluation.image_metrics import psnr, wrap_seam_score
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", type=Path, help="PNG images (default: the samples and crops)")
    parser.add_argument("--model", default="realesrgan-x4plus")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    zoo = ModelZoo(get_settings().models_dir)
    engine = Engine(zoo, "cpu", "fp32")
    engine.upscale(np.zeros((16, 16, 3), np.uint8), EngineOptions(model=args.model))  # load outside the timings
    rows, plain_s, seamless_s = [], 0.0, 0.0
    for name, pixels in images(args.images).items():
        ideal = torus_ideal(zoo, args.model, pixels)
        started = time.perf_counter()
        plain = engine.upscale(pixels, EngineOptions(model=args.model))
        middle = time.perf_counter()
        seamless = engine.upscale(pixels, EngineOptions(model=args.model, seamless=True))
        ended = time.perf_counter()
        plain_s, seamless_s = plain_s + middle - started, seamless_s + ended - middle
        target = wrap_seam_score(ideal)
        rows.append((name, pixels.shape, psnr(seamless / 255.0, ideal / 255.0), wrap_seam_score(seamless) / target,
                     wrap_seam_score(plain) / target, (ended - middle) / (middle - started)))
        print(*rows[-1], flush=True)
    table = ["| image | size | seamless vs ideal (dB) | seam score / ideal's | plain: seam score / ideal's "
             "| seamless / plain time |", "|---|---|---|---|---|---|"]
    table += [f"| {name} | {shape[1]}x{shape[0]} | {db:.1f} | {seam:.3f} | {plain:.2f} | {ratio:.2f} |"
              for name, shape, db, seam, plain, ratio in rows]
    body = "\n".join([
        f"Model {args.model}, fp32 on the CPU, default tiles (`EngineOptions()`). The ideal is the network run on "
        "the image as a torus (every convolution padded circularly: the endless tiling's output, "
        "`bench/seamless.py: torus_ideal`). Seam score: `wrap_seam_score` of the output over the ideal's "
        "(1.00 = as seamless as the ideal).", "", "\n".join(table), "",
        f"Lowest PSNR to the ideal: {min(r[2] for r in rows):.1f} dB; largest seam-score gap: "
        f"{max(abs(r[3] - 1) for r in rows) * 100:.1f}%. Seamless vs plain, all images interleaved in one run: "
        f"{seamless_s:.1f} s vs {plain_s:.1f} s, {seamless_s / plain_s:.2f}x (median per image "
        f"{statistics.median(r[5] for r in rows):.2f}x).", "",
        f"Command: `.venv/bin/python bench/seamless.py {' '.join(sys.argv[1:])}`"])
    print(body)
    if not args.no_write:
        write_section("Seamless mode against the ideal (CPU)", body)


if __name__ == "__main__":
    main()
