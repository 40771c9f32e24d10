"""Peak host memory of one big job against the size of its output, through the worker's job path.

    .venv/bin/python bench/bigimage.py [--size 8000] [--model PATH_OR_NAME] [--preserve-color] [--seamless]

A ``size`` x ``size`` PNG goes through :func:`workers.core.jobs.run_job` (download, decode, tiled
x4 inference, PNG encoded straight into the output file) in a fresh child process; the child
reports its peak resident memory (VmHWM) above what it held before the job, after loading the
model and running a small warm-up image. The default network is a tiny random x4 SRVGG, so
that a CPU finishes 64 megapixels in minutes: what is measured is the host side (tiling, the
output array, colour correction, the streaming encoder), which does not depend on the network;
a real network's activations live on the GPU, a few tiles at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(args) -> None:
    """Runs in a fresh process: the settings come from the environment the parent set."""
    import cv2

    from db.migrate import upgrade
    from producer.submit import create_batch
    from upscaler.jobspec import JobRequest
    from workers.core import runtime
    from workers.core.jobs import run_job

    upgrade()
    work = Path(args.work)
    warm = work / "warm"
    warm.mkdir()
    cv2.imwrite(str(warm / "w.png"), cv2.imread(str(work / "in" / "big.png"))[:64, :64])
    params = JobRequest.from_fields(preserve_color=args.preserve_color, seamless=args.seamless)
    for source, output in ((warm, work / "warm-out"), (work / "in", work / "out")):
        [job] = create_batch([str(source)], str(output), model=args.model, params=params).job_ids
        before = memory_kib("VmRSS")
        start = time.perf_counter()
        outcome = run_job(job, runtime.engine(), runtime.storage(), "bench")
        seconds = time.perf_counter() - start
    print(json.dumps({"outcome": outcome.value, "seconds": seconds, "rss_before_kib": before,
                      "peak_kib": memory_kib("VmHWM")}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--model", help="model name or weight file (default: a tiny random x4 SRVGG)")
    parser.add_argument("--preserve-color", action="store_true")
    parser.add_argument("--seamless", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    import cv2
    import numpy as np

    from tests.support import TINY_SRVGG, random_network_file, texture

    with tempfile.TemporaryDirectory(prefix="upscaler-big-") as tmp:
        work = Path(tmp)
        (work / "in").mkdir()
        # A material-like texture: a 1000 px tile repeated, with grain so that no two tiles match.
        tile = texture(1000, 1000, seed=3)
        reps = -(-args.size // 1000)
        big = np.tile(tile, (reps, reps, 1))[: args.size, : args.size]
        big = cv2.add(big, np.random.default_rng(0).integers(0, 8, big.shape, dtype=np.uint8))
        cv2.imwrite(str(work / "in" / "big.png"), big, [cv2.IMWRITE_PNG_COMPRESSION, 1])
        del big
        model = args.model or str(random_network_file(work, TINY_SRVGG))
        out_pixels = (args.size * 4) ** 2
        env = dict(os.environ, UPSCALER_DATA_DIR=str(work / "state"), UPSCALER_MAX_INPUT_PIXELS=str(args.size**2),
                   UPSCALER_MAX_OUTPUT_PIXELS=str(out_pixels), UPSCALER_MAX_INPUT_BYTES=str(2**31),
                   UPSCALER_JOB_SOFT_TIME_LIMIT="7200", UPSCALER_JOB_TIME_LIMIT="7300")
        env.pop("UPSCALER_DATABASE_URL", None)
        env.pop("UPSCALER_BROKER_URL", None)
        command = [sys.executable, __file__, "--child", "--work", str(work), "--model", model]
        options = [flag for flag, on in (("--preserve-color", args.preserve_color), ("--seamless", args.seamless)) if on]
        command += options
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"the child failed:\n{result.stderr[-4000:]}")
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        output_file = work / "out" / "big.png"
        decoded_shape = cv2.imread(str(output_file), cv2.IMREAD_UNCHANGED).shape if args.size <= 4000 else None
        encoded = output_file.stat().st_size

    raw = out_pixels * 3
    added = (figures["peak_kib"] - figures["rss_before_kib"]) * 1024
    body = "\n".join([
        f"One {args.size}x{args.size} PNG (8-bit RGB) through the worker's job path, x4 to "
        f"{args.size * 4}x{args.size * 4}{' with ' + ' '.join(options) if options else ''}; "
        f"network: {'tiny random x4 SRVGG' if not args.model else args.model}; outcome {figures['outcome']} "
        f"in {figures['seconds']:.0f} s.",
        "",
        "| output pixels (raw) | output file (PNG) | peak host memory added by the job | peak / raw output |",
        "|---|---|---|---|",
        f"| {raw / 2**30:.2f} GiB | {encoded / 2**30:.2f} GiB | {added / 2**30:.2f} GiB | {added / raw:.2f} |",
    ])
    print(body)
    if decoded_shape:
        assert decoded_shape == (args.size * 4, args.size * 4, 3), decoded_shape
    if not args.no_write:
        from bench.common import write_section

        title = "Big image: peak host memory" + (f" ({' '.join(options)})" if options else "")
        write_section(title, body + f"\n\nCommand: `.venv/bin/python bench/bigimage.py {' '.join(sys.argv[1:])}`".rstrip())


if __name__ == "__main__":
    main()
