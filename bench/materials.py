"""PBR material maps of a 4096x4096 base colour: seconds and peak memory.

    .venv/bin/python bench/materials.py [--size 4096] [--repeats 3] [--no-write]

The base colour is a photo-like ``size`` x ``size`` 8-bit BGR image (samples/gravel.png enlarged
with bicubic interpolation plus a little noise, as an upscaled texture looks). Measured:

- maps only: ``MaterialMaps`` iterated (basecolor, 16-bit height, normal, AO, roughness, ORM),
  each map dropped as the next is made; best of ``repeats``; the same with ``seamless``,
  with ``delight``, and for ``metal`` (adds the metallic map);
- the whole set written: ``write_material`` into a temporary folder (the PNGs, glTF, MaterialX
  and the preview page), once;
- peak memory of the maps-only run: the peak traced by tracemalloc (NumPy's arrays are traced)
  above what was held before, in float32 planes of the image (4 bytes x pixels) and against
  the base colour's own size; and the process's peak resident memory (VmHWM) above what it
  held before (the first run: OpenCV's buffers included).

Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import photo_like, write_section  # noqa: E402
from upscaler.materials import MapOptions, MaterialMaps, folder_writer, write_material  # noqa: E402

REPO = Path(__file__).resolve().parent.parent




def memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def maps_only(pixels: np.ndarray, options: MapOptions) -> list[str]:
    return [item.name for item in MaterialMaps(pixels, options)]


def best_of(repeats: int, fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of the fastest of ``repeats`` runs."""
    best = (float("inf"), 0.0)
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - start, time.process_time() - cpu))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only, leave bench/RESULTS.md alone")
    args = parser.parse_args()
    pixels = photo_like(args.size)
    plane = pixels.shape[0] * pixels.shape[1] * 4
    default = MapOptions(category="stone", orm=True)

    rss_before = memory_kib("VmRSS")
    tracemalloc.start()
    tracemalloc.reset_peak()
    traced_before = tracemalloc.get_traced_memory()[0]
    names = maps_only(pixels, default)
    traced_peak = tracemalloc.get_traced_memory()[1] - traced_before
    tracemalloc.stop()
    rss_peak = (memory_kib("VmHWM") - rss_before) * 1024

    rows = []
    for label, options in [("stone (default options)", default),
                           ("stone, seamless", MapOptions(category="stone", orm=True, seamless=True)),
                           ("stone, delight", MapOptions(category="stone", orm=True, delight=True)),
                           ("metal (+ metallic map)", MapOptions(category="metal", orm=True))]:
        seconds, cpu = best_of(args.repeats, lambda o=options: maps_only(pixels, o))
        rows.append(f"| {label} | {seconds:.2f} | {cpu:.2f} |")
        print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as folder:
        start, cpu = time.perf_counter(), time.process_time()
        result = write_material(pixels, folder_writer(folder), MapOptions(category="stone"), name="gravel")
        written, written_cpu = time.perf_counter() - start, time.process_time() - cpu
        total_mb = sum(p.stat().st_size for p in Path(folder).iterdir()) / 1e6
    print(f"whole set written: {written:.2f} s, {total_mb:.1f} MB; traced peak {traced_peak / plane:.2f} planes, "
          f"VmHWM +{rss_peak / 2**20:.0f} MiB")

    body = "\n".join([
        f"One {args.size}x{args.size} 8-bit BGR base colour (samples/gravel.png enlarged, plus noise), CPU "
        f"(NumPy/OpenCV, no torch), maps made one at a time and dropped ({', '.join(names)}).",
        "",
        "| maps only | seconds (best of %d) | CPU seconds (all threads) |" % args.repeats,
        "|---|---|---|",
        *rows,
        f"| whole set written (PNGs, glTF, MaterialX, preview page; once; {total_mb:.0f} MB of files) | {written:.2f} "
        f"| {written_cpu:.2f} |",
        "",
        f"Load average while measuring (other work on the machine inflates wall time, CPU time less): "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}.",
        "",
        "| peak memory of the maps (stone, default options) | bytes | float32 planes of the image | x the base colour's size |",
        "|---|---|---|---|",
        f"| traced (NumPy arrays, tracemalloc) | {traced_peak / 2**20:.0f} MiB | {traced_peak / plane:.2f} | "
        f"{traced_peak / pixels.nbytes:.2f} |",
        f"| resident (VmHWM above before, first run) | {rss_peak / 2**20:.0f} MiB | {rss_peak / plane:.2f} | "
        f"{rss_peak / pixels.nbytes:.2f} |",
        "",
        f"Files: {', '.join(result.files)}.",
        "",
        f"Command: `.venv/bin/python bench/materials.py {' '.join(sys.argv[1:])}`",
    ])
    if not args.no_write:
        write_section("PBR material maps", body)
    print(body)


if __name__ == "__main__":
    main()
