"""CPU runtimes side by side: PyTorch and OpenVINO, fp32 and bf16, through the engine, one run.

    .venv/bin/python bench/cpu_runtimes.py                         # 128, 512, 1024 px; writes RESULTS.md
    .venv/bin/python bench/cpu_runtimes.py --sizes 128,512 --rounds 3 --no-write

Each configuration is an Engine on the CPU with its runtime (``cpu_runtime``) and precision fixed,
the engine's defaults otherwise (tile 200, pad 12, one tile a batch), model realesrgan-x4plus,
each in a process of its own (two runtimes in one process fight over the cores: torch's OpenMP
threads and OpenVINO's TBB threads each spin a while after their work). All are loaded and warmed
up first (conversion, compilation, one small image: untimed); then each round takes the sizes in
turn and, for each size, has every configuration's process upscale the same photo-like image, one
after the other (interleaved; the others wait, idle), so a change in the machine's load touches
them all.

Reported per size: the best of the rounds in wall seconds (and input MP/s) and in CPU seconds of
the configuration's process (all its threads: what the work cost, which a loaded machine inflates
less than the wall time, though threads spinning at barriers count too), and GFLOP/s of useful
work: the network's multiply-adds per input pixel (counted from its layers, bench/flops.py) x 2 x
input pixels, per wall second and per CPU second. Tile overlap is work done but not counted, so
these are lower bounds. The shares are of the dense peak in the configuration's precision, from
the CPU's feature flags and clock (bench/flops.py: ``cpu_dense_peak``): of the cores the runtime
uses for the wall rate, of one core for the CPU-second rate. Quality: PSNR of each output to
PyTorch fp32's at the smallest size. int8 is measured apart (bench/int8.py).

``--threads N`` gives each runtime N threads (UPSCALER_TORCH_THREADS; default: the runtimes' own,
all physical cores). On a machine shared with other work, PyTorch's OpenMP threads lose most of
their time waiting for each other at every layer's barrier (measured: 32 px x4plus fp32 on 2
threads 10-19 s wall and 2.9-4.6 CPU seconds, on 1 thread 1.0-1.3 s and 0.3), so there one thread
each compares the runtimes' arithmetic more fairly.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401
from bench.common import photo_like, write_section  # noqa: E402
from bench.flops import cpu_dense_peak, cpu_description, model_macs  # noqa: E402
from upscaler.engine import Engine  # noqa: E402
from upscaler.evaluation.image_metrics import psnr  # noqa: E402
from upscaler.engine.options import EngineOptions  # noqa: E402
from upscaler.settings import get_settings  # noqa: E402
from upscaler.zoo.registry import ModelZoo  # noqa: E402

MODEL = "realesrgan-x4plus"
CONFIGS = (("torch", "fp32"), ("torch", "bf16"), ("openvino", "fp32"), ("openvino", "bf16"))
TITLE = "CPU runtimes: PyTorch and OpenVINO (CPU)"


def serve(runtime: str, precision: str, model: str, sizes: list[int], threads: int, pipe) -> None:
    """A configuration's own process: load, warm up, then upscale each size asked for, timed."""
    settings = get_settings()
    engine = Engine(ModelZoo(settings.models_dir), "cpu", precision, cpu_runtime=runtime,
                    conversion_dir=settings.data_dir / "openvino", cpu_threads=threads)
    params = EngineOptions(model=model)
    started = time.perf_counter()
    net = engine.network(model)
    engine.upscale(photo_like(32), params)  # warm-up: kernels chosen, caches filled
    images = {size: photo_like(size) for size in sizes}
    pipe.send((net.runtime, time.perf_counter() - started))
    while (size := pipe.recv()) is not None:
        start, cpu = time.perf_counter(), time.process_time()
        out = engine.upscale(images[size], params)
        pipe.send((time.perf_counter() - start, time.process_time() - cpu, out if size == sizes[0] else None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="128,512,1024", help="input sides in px, comma-separated")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--threads", type=int, default=0, help="threads per runtime; 0: the runtimes' default")
    parser.add_argument("--title", default=TITLE)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    zoo = ModelZoo(get_settings().models_dir)
    zoo.info(args.model)  # imported before the processes start, once

    spawn = multiprocessing.get_context("spawn")
    pipes = {}
    for config in CONFIGS:  # loaded one after the other: the first OpenVINO one converts the model
        ours, theirs = spawn.Pipe()
        spawn.Process(target=serve, args=(*config, args.model, sizes, args.threads, theirs), daemon=True).start()
        runtime, seconds = ours.recv()
        assert runtime == config[0], (config, runtime)
        pipes[config] = ours
        print(f"loaded {config[0]} {config[1]} in {seconds:.1f} s", flush=True)

    seconds = {(config, size): [] for config in CONFIGS for size in sizes}
    cpu_seconds = {(config, size): [] for config in CONFIGS for size in sizes}
    outputs = {}
    loads = [os.getloadavg()[0]]
    for round_ in range(args.rounds):
        for size in sizes:
            for config in CONFIGS:
                pipes[config].send(size)
                took, cpu, out = pipes[config].recv()
                seconds[config, size].append(took)
                cpu_seconds[config, size].append(cpu)
                if out is not None:
                    outputs[config] = out
                print(f"round {round_ + 1} {size}px {config[0]} {config[1]}: {took:.2f} s ({cpu:.2f} CPU s)",
                      flush=True)
        loads.append(os.getloadavg()[0])
    for pipe in pipes.values():
        pipe.send(None)

    macs = model_macs(args.model, zoo)
    cpu = cpu_description()
    cores = min(args.threads or cpu["cores"], cpu["cores"])
    peaks = {p: cpu_dense_peak(p, cpu) for p in ("fp32", "bf16")}
    one_core = {p: cpu_dense_peak(p, {**cpu, "cores": 1})[0] for p in peaks}
    reference = outputs[("torch", "fp32")]
    rows = []
    for size in sizes:
        flop = 2 * macs * size * size
        base = min(seconds[("torch", "fp32"), size])
        for config in CONFIGS:
            runtime, precision = config
            best, best_cpu = min(seconds[config, size]), min(cpu_seconds[config, size])
            gflops, per_cpu = flop / best / 1e9, flop / best_cpu / 1e9
            share = gflops / (peaks[precision][0] * cores / cpu["cores"])
            each = " / ".join(f"{s:.2f}" for s in seconds[config, size])
            quality = psnr(outputs[config] / 255, reference / 255) if size == sizes[0] else None
            shown = "-" if quality is None else ("exact" if quality == float("inf") else f"{quality:.1f}")
            rows.append(f"| {size} | {runtime} | {precision} | {best:.2f} ({each}) | {size * size / 1e6 / best:.4f} | "
                        f"{best_cpu:.2f} | {gflops:,.0f} | {100 * share:.1f}% | {per_cpu:,.0f} | "
                        f"{100 * per_cpu / one_core[precision]:.1f}% | {base / best:.2f} | {shown} |")
    table = ("| input px | runtime | precision | best wall s (each round) | input MP/s | best CPU s | GFLOP/s | "
             "share of peak | GFLOP per CPU s | share of one core's peak | speed vs torch fp32 (wall) | "
             "PSNR to torch fp32 (dB) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))

    def ratio(a: tuple[str, str], b: tuple[str, str], size: int, times: dict) -> str:
        return " / ".join(f"{x / y:.2f}" for x, y in zip(times[a, size], times[b, size]))

    versus = "; ".join(f"{size} px: wall {ratio(('torch', 'bf16'), ('openvino', 'bf16'), size, seconds)}, "
                       f"CPU {ratio(('torch', 'bf16'), ('openvino', 'bf16'), size, cpu_seconds)}" for size in sizes)
    threads = f"{args.threads} thread(s) per runtime" if args.threads else "the runtimes' default threads (all cores)"
    notes = (f"Model {args.model}: {2 * macs / 1e6:.1f} MFLOP per input pixel (bench/flops.py), engine defaults "
             f"(tile 200, pad 12, one tile a batch), {threads}; {args.rounds} rounds, every configuration in turn "
             f"per size, each in its own process.\n\n"
             f"Peaks ({cores} of {cpu['cores']} cores for the wall rate): fp32 {peaks['fp32'][1]}; bf16 "
             f"{peaks['bf16'][1]}. The clock is the kernel's \"cpu MHz\" (a virtual machine's nominal clock: a "
             "faster turbo would lower every share).\n\n"
             f"OpenVINO bf16 against PyTorch bf16, speed-up in each round: {versus}.\n\n"
             f"Load average (1 min) at the start and after each round: "
             f"{', '.join(f'{v:.1f}' for v in loads)}, on {len(os.sched_getaffinity(0))} cores shared with "
             "other work: wall times are noisy, CPU seconds and the ratios within a round less so.")
    print(table, notes, sep="\n\n")
    if not args.no_write:
        command = f".venv/bin/python bench/cpu_runtimes.py {' '.join(sys.argv[1:])}".strip()
        write_section(args.title, f"{table}\n\n{notes}\n\nCommand: `{command}`")


if __name__ == "__main__":
    main()
