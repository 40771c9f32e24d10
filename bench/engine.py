"""Our engine against Real-ESRGAN's own RealESRGANer, same weights, same images, one run.

    .venv/bin/python bench/engine.py                     # CPU, writes bench/RESULTS.md
    .venv/bin/python bench/engine.py --device cuda ...   # see bench/gpu.sh

The reference is the PyPI package ``realesrgan`` (installed here with --no-deps only for this
benchmark; it needs nothing but basicsr): ``RealESRGANer(tile=200, tile_pad=10, pre_pad=10)``
in fp32 (or fp16 with --reference-half), one tile at a time, as its inference script runs.
Ours runs with the settings given (default: what users get). Throughput is input megapixels
per second over all images; quality is PSNR of our output against the reference fp32 output.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import write_section  # noqa: E402
from upscaler.engine import Engine  # noqa: E402
from upscaler.evaluation.image_metrics import psnr  # noqa: E402
from upscaler.engine.options import EngineOptions  # noqa: E402
from upscaler.settings import DEFAULT_TILE_PAD, get_settings  # noqa: E402
from upscaler.zoo.registry import ModelZoo  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def reference_class():
    try:
        from realesrgan import RealESRGANer
    except ImportError:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "realesrgan==0.3.0"], check=True)
        from realesrgan import RealESRGANer
    return RealESRGANer


def bench_images(size: int) -> list[tuple[str, np.ndarray]]:
    """The bundled gray samples plus colour material-like crops from scikit-image."""
    from skimage import data

    images = [(p.stem, cv2.imread(str(p), cv2.IMREAD_UNCHANGED)) for p in sorted((REPO / "samples").glob("*.png"))]
    coffee = cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)[:300, :400]
    images.append(("coffee-colour", coffee))
    if size:
        rng = np.random.default_rng(0)
        big = cv2.resize(coffee, (size, size), interpolation=cv2.INTER_CUBIC)
        big = np.clip(big + rng.normal(0, 4, big.shape), 0, 255).astype(np.uint8)
        images.append((f"colour-{size}", big))
    return images


def psnr8(a: np.ndarray, b: np.ndarray) -> float:
    return psnr(a.astype(np.float64) / 255, b.astype(np.float64) / 255)


def exact_output(net: torch.nn.Module, img: np.ndarray, device: torch.device) -> np.ndarray:
    """The whole image through the network in fp32, no tiling: what every tiling approximates."""
    rgb = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().div(255).to(device)
    with torch.inference_mode():
        y = net(x).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    out = np.rint(y * 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY) if img.ndim == 2 else cv2.cvtColor(out, cv2.COLOR_RGB2BGR)


def run(label: str, fn, images, warm_passes: int = 0) -> tuple[float, list[np.ndarray]]:
    """Seconds for all images, and the outputs. ``warm_passes``: untimed passes over every image
    first (CUDA: cuDNN picks its kernels on a shape's first use and the engine captures a CUDA
    graph on its second, costs a long-running worker pays once per shape); without them only a
    small first call (allocations, lazy initialisation)."""
    for _, img in images * warm_passes or [("warm-up", images[0][1][:64, :64])]:
        fn(img)
    outputs, start = [], time.perf_counter()
    for name, img in images:
        t = time.perf_counter()
        outputs.append(fn(img))
        print(f"  {label:<28} {name:<16} {time.perf_counter() - t:7.2f} s", flush=True)
    return time.perf_counter() - start, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", default="auto,fp32", help="ours, comma-separated")
    parser.add_argument("--batch-sizes", default="", help="ours, comma-separated; 'auto' = from the device's free memory (the default)")
    parser.add_argument("--tile", type=int, default=200)
    parser.add_argument("--tile-pad", type=int, default=DEFAULT_TILE_PAD)
    parser.add_argument("--torch-compile", action="store_true",
                        help="also run each precision with torch.compile (engine/compiled.py)")
    parser.add_argument("--reference-half", action="store_true", help="reference in fp16 (CUDA)")
    parser.add_argument("--extra-size", type=int, default=0, help="add a colour image of this size")
    parser.add_argument("--model", default="realesrgan-x4plus")
    parser.add_argument("--title", default="Engine vs RealESRGANer (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    zoo = ModelZoo(get_settings().models_dir)
    info, state = zoo.load(args.model)
    images = bench_images(args.extra_size)
    megapixels = sum(img.shape[0] * img.shape[1] for _, img in images) / 1e6
    print(f"{len(images)} images, {megapixels:.3f} input megapixels, {args.model}, {args.device}")

    weights = Path(get_settings().data_dir) / "bench" / f"{args.model}.pth"
    weights.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": state}, weights)  # the same weights, in the file layout it reads
    from upscaler.zoo.archs import build

    device = torch.device(args.device)
    reference = reference_class()(scale=info.spec.scale, model_path=str(weights), model=build(info.spec),
                                  tile=200, tile_pad=10, pre_pad=10, half=args.reference_half, device=device)
    ref_label = f"reference tile=200 {'fp16' if args.reference_half else 'fp32'}"
    warm_passes = 2 if device.type == "cuda" else 0
    ref_seconds, ref_out = run(ref_label, lambda img: reference.enhance(img, outscale=4)[0], images, warm_passes)
    if args.reference_half:  # quality is always judged against the fp32 reference output
        fp32_ref = reference_class()(scale=info.spec.scale, model_path=str(weights), model=build(info.spec),
                                     tile=200, tile_pad=10, pre_pad=10, half=False, device=device)
        ref_out = [fp32_ref.enhance(img, outscale=4)[0] for _, img in images]
    ref_rate = megapixels / ref_seconds
    # The network's exact output: the reference model on each whole image in fp32, no tiles.
    exact_net = build(info.spec, state).to(device).eval()
    exact = [exact_output(exact_net, img, device) for _, img in images]
    ref_exact = min(psnr8(r, e) for r, e in zip(ref_out, exact))

    rows = [f"| {ref_label} | {ref_rate:.4f} | 1.00 | - | {ref_exact:.1f} |"]
    batch_sizes = [None if b == "auto" else int(b) for b in args.batch_sizes.split(",") if b] or [None]
    best = None
    variants = [(p, compiled) for p in args.precisions.split(",") for compiled in (False, True)
                if args.torch_compile or not compiled]
    for precision, compiled in variants:
        engine = Engine(zoo, args.device, precision, torch_compile=compiled)
        started = time.perf_counter()
        engine.network(args.model)  # loads, picks the precision, compiles: a worker pays this once
        load = f" compiled ({time.perf_counter() - started:.0f} s to load and compile)" if compiled else ""
        for batch in batch_sizes:
            opts = EngineOptions(model=args.model, tile=args.tile, tile_pad=args.tile_pad, batch_size=batch)
            label = f"ours {precision}->{engine.network(args.model).precision} batch={batch or 'auto'}{load}"
            seconds, outs = run(label, lambda img: engine.upscale(img, opts), images, warm_passes)
            if compiled:  # a failed compilation runs eagerly: the label must say so
                label += f", {engine.network(args.model).compile_status}"
            to_ref = min(psnr8(o, r) for o, r in zip(outs, ref_out))
            quality = min(psnr8(o, e) for o, e in zip(outs, exact))
            rate = megapixels / seconds
            rows.append(f"| {label} tile={args.tile} pad={args.tile_pad} | {rate:.4f} | {rate / ref_rate:.2f} "
                        f"| {to_ref:.1f} | {quality:.1f} |")
            if best is None or rate > best[0]:
                best = (rate, label, quality)
    table = ("| run | input MP/s | ratio | min PSNR to RealESRGANer fp32 output (dB) "
             "| min PSNR to exact fp32 output (dB) |\n|---|---|---|---|---|\n" + "\n".join(rows))
    print(table)
    target = ">= 4x on CUDA against the fp16 reference" if device.type == "cuda" else ">= 2.5x on CPU"
    verdict = (f"Best: **{best[1]}**, {best[0] / ref_rate:.2f}x the reference's megapixels/s at "
               f"{best[2]:.1f} dB to the exact fp32 output (targets: {target}, >= 45 dB). "
               f"RealESRGANer's own tiles (pad 10, cut without blending) are {ref_exact:.1f} dB from it.")
    print(verdict)
    if not args.no_write:
        images_line = ", ".join(f"{n} {i.shape[1]}x{i.shape[0]}" for n, i in images)
        write_section(args.title, f"Model {args.model}; images: {images_line}.\n\n{table}\n\n{verdict}\n\n"
                                  f"Command: `.venv/bin/python bench/engine.py {' '.join(sys.argv[1:])}`")


if __name__ == "__main__":
    main()
