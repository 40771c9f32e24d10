"""PNG encoding speed: our strip encoder on one thread and on its default threads, and OpenCV's.

    .venv/bin/python bench/png_encode.py [--size 4096] [--repeats 3]

One photo-like ``size`` x ``size`` 8-bit BGR image (a sample enlarged with bicubic interpolation
plus a little noise, as an upscaled texture looks to zlib), encoded into memory at level 3 by
``upscaler.imageio.png.write_png`` with ``PNG_THREADS`` = 1 and at its default (up to 8, by the cores this
process may use), and by ``cv2.imencode`` at the same level; best of ``repeats`` each, with
file sizes, and the decoded pixels checked against the input. Writes bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import photo_like, write_section  # noqa: E402
from upscaler.imageio import png  # noqa: E402

REPO = Path(__file__).resolve().parent.parent




def best_of(repeats: int, encode) -> tuple[float, bytes]:
    best, data = float("inf"), b""
    for _ in range(repeats):
        start = time.perf_counter()
        data = encode()
        best = min(best, time.perf_counter() - start)
    return best, data


def ours(pixels: np.ndarray, threads: int) -> bytes:
    png.PNG_THREADS = threads
    out = io.BytesIO()
    png.write_png(pixels, out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    pixels = photo_like(args.size)
    default_threads = png.PNG_THREADS
    runs = [("ours, 1 thread", lambda: ours(pixels, 1)),
            (f"ours, {default_threads} threads (the default here)", lambda: ours(pixels, default_threads)),
            ("OpenCV imencode", lambda: cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, png.PNG_ZLIB_LEVEL])[1].tobytes())]
    rows, one_thread = [], None
    for label, encode in runs:
        seconds, data = best_of(args.repeats, encode)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(decoded, pixels), f"{label}: decoded pixels differ"
        one_thread = one_thread or seconds
        rows.append(f"| {label} | {seconds:.2f} | {one_thread / seconds:.2f} | {len(data) / 1e6:.2f} |")
        print(rows[-1], flush=True)
    table = (f"| encoder | seconds (best of {args.repeats}) | speed vs ours on 1 thread | MB |\n|---|---|---|---|\n"
             + "\n".join(rows))
    if not args.no_write:
        write_section("PNG encoding", f"One {args.size}x{args.size} 8-bit BGR photo-like image, zlib level "
                                      f"{png.PNG_ZLIB_LEVEL}, in memory; every output decoded and checked.\n\n"
                                      f"{table}\n\nCommand: `.venv/bin/python bench/png_encode.py "
                                      f"{' '.join(sys.argv[1:])}`")


if __name__ == "__main__":
    main()
