"""Stage-2 training speed at the real network size: generator + discriminator iterations/s.

    .venv/bin/python bench/train.py [--batch-size 1] [--gt-size 256] [--iters 3] [--device cpu] [--amp off]

A-ESRGAN-Multi preset: RRDBNet 23 blocks / 64 features, the 64-feature multi-scale attention
U-Net discriminator pair, L1 + VGG19 perceptual + GAN, Real-ESRGAN's degradations and pair
pool, on crops prepared from the bundled samples. VGG19 weights are random here (the real file
is not on this machine); its speed does not depend on the values.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import write_section  # noqa: E402
from training.config import preset  # noqa: E402
from training.prepare import prepare  # noqa: E402
from training.trainer import Trainer  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--gt-size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off", choices=["off", "bf16"])
    parser.add_argument("--title", default="Training stage 2 speed (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        prepare(str(REPO / "samples"), data, crop=args.gt_size, step=args.gt_size // 2)
        config = preset("aesrgan-multi", {
            "data": str(data), "gt_size": args.gt_size, "batch_size": args.batch_size, "pool_size": 0,
            "validate_pairs": 1, "total_iter": 10**6, "checkpoint_every": 10**6, "segment_iters": 10**6,
            "amp": args.amp,
        })
        trainer = Trainer(config, Path(tmp) / "run", device=args.device, allow_random_vgg=True)
        trainer.step()  # warm-up: allocations, kernel selection
        sync = (lambda: __import__("torch").cuda.synchronize()) if args.device == "cuda" else (lambda: None)
        sync()
        start = time.perf_counter()
        for _ in range(args.iters):
            trainer.step()
        sync()
        seconds = (time.perf_counter() - start) / args.iters
    line = (f"| {args.device} | {args.amp} | {args.batch_size} | {args.gt_size} | {seconds:.2f} | "
            f"{1 / seconds:.3f} | {args.batch_size / seconds:.3f} |")
    table = ("| device | amp | batch | GT crop | s / iteration | iterations / s | samples / s |\n"
             "|---|---|---|---|---|---|---|\n" + line)
    print(table)
    if not args.no_write:
        write_section(args.title, "Stage 2 (aesrgan-multi: RRDBNet 23x64, multi-scale attention U-Net pair, L1 + "
                      "perceptual + GAN), one generator and one discriminator update per iteration, mean of "
                      f"{args.iters} after a warm-up.\n\n{table}\n\n"
                      f"Command: `.venv/bin/python bench/train.py {' '.join(sys.argv[1:])}`")


if __name__ == "__main__":
    main()
