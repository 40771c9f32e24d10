"""Stage-2 training speed at the real network size: generator + discriminator iterations/s.

    .venv/bin/python bench/train.py [--batch-size 1] [--gt-size 256] [--iters 3] [--device cpu] [--amp off]
    .venv/bin/python bench/train.py --resume-check [--deterministic] --device cuda

``--resume-check`` instead trains a small stage-2 run twice on the device: straight through 8
iterations, and as two 4-iteration segments, the second a new trainer resumed from the first's
checkpoint (with a full pair pool, as a queue worker resumes). It fails if any stateful tensor
is off the device after the resume or if a step fails; with ``--deterministic`` it also fails
unless the two runs' weights are equal bit for bit (without, it reports how far they drift).

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


def resume_check(device: str, deterministic: bool, write: bool) -> int:
    """0 when a run resumed across a segment boundary on ``device`` is sound (see the docstring)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        prepare(str(REPO / "samples"), data, crop=160, step=80)
        # Pool of 16, 8 pairs per step: full after two steps, so the second segment trains on
        # pairs that came back out of the checkpoint.
        config = preset("aesrgan-multi", {
            "data": str(data), "gt_size": 128, "degrade_size": 160, "batch_size": 4, "accumulate": 2,
            "pool_size": 16, "validate_pairs": 1, "total_iter": 8, "checkpoint_every": 4, "segment_iters": 4,
            "deterministic": deterministic,
            "network": {"num_feat": 32, "num_block": 2, "num_grow_ch": 16, "disc_feat": 32},
        })
        straight = Trainer(config, Path(tmp) / "straight", device=device, allow_random_vgg=True)
        straight.train_until(8)
        first = Trainer(config, Path(tmp) / "segments", device=device, allow_random_vgg=True)
        first.train_until(4)
        if first.pool.filled != config.pool_size:
            print("resume-check: the pool is not full at the segment boundary; the check would miss it")
            return 1
        del first
        resumed = Trainer(config, Path(tmp) / "segments", device=device, allow_random_vgg=True)
        if not resumed.resume() or resumed.iteration != 4:
            print("resume-check: no checkpoint at iteration 4")
            return 1
        elsewhere = [name for name, t in resumed.stateful_tensors() if t.device.type != resumed.device.type]
        if elsewhere:
            print(f"resume-check: not on {device} after the resume: {', '.join(elsewhere)}")
            return 1
        resumed.train_until(8)
        drift = max((a.float() - b.float()).abs().max().item() for a, b in
                    zip(straight.net_g_ema.state_dict().values(), resumed.net_g_ema.state_dict().values()))
    table = ("| device | deterministic | resumed at | EMA weights: max abs difference from the straight run |\n"
             f"|---|---|---|---|\n| {device} | {deterministic} | 4 of 8 | {drift:.3g} |")
    print(table)
    if write:
        write_section(f"Training resume across a segment boundary ({device}, deterministic {deterministic})",
                      "A small stage-2 run (RRDBNet 2x32, multi-scale discriminator 32, 128 px pairs cut from "
                      "160 px degraded crops, 4 x 2 per step, pool 16) trained straight to iteration 8 and as "
                      "two segments of 4, the second resumed from the checkpoint by a new trainer.\n\n"
                      f"{table}\n\nCommand: `.venv/bin/python bench/train.py {' '.join(sys.argv[1:])}`")
    if deterministic and drift != 0:
        print("resume-check: deterministic run, yet the resumed weights differ")
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--gt-size", type=int, default=256)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--amp", default="off", choices=["off", "bf16"])
    parser.add_argument("--title", default="Training stage 2 speed (CPU)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--resume-check", action="store_true", help="check a resume across a segment boundary")
    parser.add_argument("--deterministic", action="store_true", help="with --resume-check: deterministic kernels")
    args = parser.parse_args()
    if args.resume_check:
        sys.exit(resume_check(args.device, args.deterministic, not args.no_write))

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        prepare(str(REPO / "samples"), data, crop=args.gt_size, step=args.gt_size // 2)
        # One micro-batch per step: the time of one forward/backward pass of --batch-size
        # (a default run accumulates 4 of them per step).
        config = preset("aesrgan-multi", {
            "data": str(data), "gt_size": args.gt_size, "degrade_size": max(400, args.gt_size),
            "batch_size": args.batch_size, "accumulate": 1, "pool_size": 0,
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
