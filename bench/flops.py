"""What a network costs per input pixel, counted from its layers, and how much of a GPU we use.

    .venv/bin/python bench/flops.py                         # MACs per input pixel, TFLOP per MP
    .venv/bin/python bench/flops.py --engine-log LOG --json F   # achieved TFLOP/s vs the card's peak
    .venv/bin/python bench/flops.py --measure 25 --json F       # the same from our own timed loop
    .venv/bin/python bench/flops.py --summary F --busy-json B --write   # headline (bench/gpu.sh)

Multiply-adds (MACs) are counted with forward hooks on every Conv2d / ConvTranspose2d / Linear
during one forward pass of a small input, then divided by the input's pixels: the count follows
whatever network the zoo builds, with no per-architecture formula to keep in step. Activations,
biases, residual adds and upsampling are not counted (they are a rounding error next to the
convolutions, and MAC counts conventionally leave them out). One MAC is two FLOPs.

Achieved TFLOP/s counts only useful work: MACs per *input* pixel times input pixels per second.
Tile overlap (tile_pad context recomputed by neighbours) is real GPU work that this leaves out,
so the fraction of peak it gives is a lower bound on how busy the tensor cores really were.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401  (before basicsr)

MODELS = ("realesrgan-x4plus", "realesr-animevideov3")
ENGINE_TITLE = "Engine vs RealESRGANer (CUDA)"
SECTION_TITLE = "GPU utilisation (CUDA)"
TARGETS = {"ratio": 4.0, "peak_fraction": 0.35, "busy": 0.90}
PEAK_ENV = "UPSCALER_PEAK_TFLOPS"

# Dense (no 2:4 sparsity) bf16 tensor-core TFLOP/s, fp32 accumulate, from the vendors' spec
# sheets (NVIDIA's datasheets print the sparse figure first; these are half of it). fp16 dense
# is the same number on all of these, so it serves whichever half precision `auto` picks.
# Matched as whole words against torch.cuda.get_device_name(), first match wins: the specific
# variants (PCIe, NVL) come before the bare name, and "A10" does not match "A10G" (a different
# card whose figure we do not have). Names look like "NVIDIA H100 80GB HBM3" (SXM5).
PEAK_BF16_DENSE_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),       # SXM5
    ("H200 NVL", 835.0),
    ("H200", 989.0),       # SXM
    ("A100", 312.0),       # SXM4 and PCIe, 40 and 80 GB
    ("A30", 165.0),
    ("A10", 125.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("RTX 4090", 165.0),   # GeForce: bf16 with fp32 accumulate runs at half the fp16-accumulate rate
)


# --- counting ----------------------------------------------------------------------------------

def _layer_macs(module: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        # every output element is a dot product over (in_channels / groups) x kernel
        kh, kw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.ConvTranspose2d):
        # every input element is scattered into (out_channels / groups) x kernel outputs
        kh, kw = module.kernel_size
        return inputs[0].numel() * (module.out_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    return 0


def macs_per_input_pixel(module: nn.Module, size: int = 64, in_channels: int = 3) -> float:
    """Multiply-adds per input pixel of ``module``, from one forward pass of a size x size input.

    Runs on the module's own device and dtype; a module built under ``torch.device("meta")``
    costs nothing to run (shapes only), which is how the CLI and the tests count the big nets.
    """
    param = next(module.parameters())
    total = 0

    def hook(mod, inputs, output):
        nonlocal total
        total += _layer_macs(mod, inputs, output)

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            module(torch.zeros(1, in_channels, size, size, device=param.device, dtype=param.dtype))
    finally:
        for handle in handles:
            handle.remove()
    return total / (size * size)


def tflop_per_megapixel(macs_per_px: float) -> float:
    return 2 * macs_per_px * 1e6 / 1e12


def model_macs(name: str, zoo=None, size: int = 64) -> float:
    """MACs per input pixel of a zoo model (its architecture only: random weights, meta device)."""
    from upscaler.zoo.archs import build

    if zoo is None:
        from upscaler.settings import get_settings
        from upscaler.zoo.registry import ModelZoo

        zoo = ModelZoo(get_settings().models_dir)
    spec = zoo.info(name).spec
    with torch.device("meta"):
        net = build(spec)
    size += (-size) % spec.size_multiple
    return macs_per_input_pixel(net, size, int(spec.params.get("num_in_ch", 3)))


# --- peak and achieved ---------------------------------------------------------------------------

def peak_tflops(device_name: str | None) -> float | None:
    """The card's dense bf16 peak from the table above, or None for a card not in it."""
    for key, peak in PEAK_BF16_DENSE_TFLOPS:
        if device_name and re.search(rf"(?<!\w){re.escape(key)}(?![\w])", device_name, re.I):
            return peak
    return None


def achieved(megapixels_per_s: float, macs_per_px: float, peak: float | None) -> tuple[float, float | None]:
    """(achieved TFLOP/s, fraction of peak or None) for a rate in input megapixels per second."""
    tflops = megapixels_per_s * tflop_per_megapixel(macs_per_px)
    return tflops, (tflops / peak if peak else None)


# --- the CPU's dense peak, from its features and clock ----------------------------------------------

# FLOPs per cycle per core of the widest dense instruction the CPU has for each precision (one
# multiply-add = 2 FLOPs, int8: 2 ops). x86 server cores of both vendors issue two vector FMAs a
# cycle; Intel's are 512 bits wide where the core has AVX-512, AMD's Zen 4 runs a 512-bit one as
# two 256-bit halves, so half of Intel's rate per instruction. AVX-512-BF16's VDPBF16PS does two
# bf16 products per fp32 lane (2x fp32), AVX-512-VNNI's VPDPBUSD four int8 ones (4x); an AMX
# tile multiply unit does 1024 bf16 FLOPs or 2048 int8 ops a cycle (Intel's optimization manual).
_FMA_PORTS = 2


def cpu_flops_per_cycle(precision: str, flags: set[str], vendor: str) -> tuple[float, str]:
    """(FLOPs per cycle per core, the instruction that gives it) for fp32, bf16 or int8."""
    wide = "avx512f" in flags
    lanes = (16 if vendor == "GenuineIntel" else 8) if wide else (8 if "fma" in flags else 4)
    fp32 = _FMA_PORTS * lanes * 2
    unit = ("AVX-512" if vendor == "GenuineIntel" else "AVX-512 (as 2 x 256 bits)") if wide else "AVX2"
    if precision == "fp32":
        return fp32, f"{unit} FMA, {_FMA_PORTS} a cycle"
    if precision == "bf16":
        if "amx_bf16" in flags:
            return 1024.0, "AMX bf16 tiles"
        if "avx512_bf16" in flags:
            return 2.0 * fp32, "AVX-512-BF16 dot products"
        return fp32, "none native: fp32 rate"
    if precision == "int8":
        if "amx_int8" in flags:
            return 2048.0, "AMX int8 tiles"
        if "avx512_vnni" in flags or "avx_vnni" in flags:
            return 4.0 * fp32, "VNNI dot products"
        return fp32, "none native: fp32 rate"
    raise ValueError(f"precision {precision!r}")


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """Vendor, feature flags, clock (GHz, the kernel's "cpu MHz") and the cores we may use."""
    text = cpuinfo.read_text()

    def field(name: str) -> str:
        found = re.search(rf"^{name}\s*:\s*(.*)$", text, re.M)
        return found.group(1).strip() if found else ""

    siblings = int(field("siblings") or 1)
    physical = int(field("cpu cores") or siblings)
    usable = len(os.sched_getaffinity(0))
    return {"vendor": field("vendor_id"), "model": field("model name"), "flags": set(field("flags").split()),
            "ghz": float(field("cpu MHz") or 0) / 1000, "cores": max(1, usable * physical // siblings)}


def cpu_dense_peak(precision: str, cpu: dict | None = None) -> tuple[float, str]:
    """(GFLOP/s, how it was computed) of the usable cores for ``precision``."""
    cpu = cpu or cpu_description()
    per_cycle, how = cpu_flops_per_cycle(precision, cpu["flags"], cpu["vendor"])
    peak = cpu["cores"] * per_cycle * cpu["ghz"]
    return peak, f"{cpu['cores']} cores x {per_cycle:g} FLOP/cycle ({how}) x {cpu['ghz']:.2f} GHz = {peak:,.0f} GFLOP/s"


# --- where the megapixels per second come from ---------------------------------------------------

_ROW = re.compile(r"^\|\s*((?:reference|ours)\b[^|]*?)\s*\|\s*([0-9.]+)\s*\|\s*([0-9.]+)\s*\|", re.M)


def parse_engine_table(text: str) -> dict | None:
    """The best "ours" row (highest input MP/s) of bench/engine.py's results table, or None.

    Reads the tables engine.py prints (run | input MP/s | ratio | ...): its stdout of this run,
    not RESULTS.md, so that a run that failed can never report an older run's numbers.
    """
    rows = [(label, float(rate), float(ratio)) for label, rate, ratio in _ROW.findall(text)]
    ours = [row for row in rows if row[0].startswith("ours")]
    if not ours:
        return None
    label, rate, ratio = max(ours, key=lambda row: row[1])
    reference = next((row for row in rows if row[0].startswith("reference")), None)
    return {"source": "bench/engine.py best run", "run": label, "mp_per_s": rate, "ratio": ratio,
            "reference": reference[0] if reference else None,
            "reference_mp_per_s": reference[1] if reference else None}


def measure_engine(model: str, device: str, seconds: float, size: int = 1024, threads: int = 2) -> dict:
    """Our Engine (auto precision, default tiling) on size x size images for ``seconds``, from
    ``threads`` threads as a worker's jobs in flight call it: one image's tiles queue while another's
    rows come back, so the device never waits for the host between images."""
    import cv2
    import numpy as np

    from upscaler.engine import Engine
    from upscaler.engine.options import EngineOptions
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    rng = np.random.default_rng(0)  # smooth colour shapes plus grain; the content only matters
    small = rng.uniform(0, 255, (size // 16, size // 16, 3)).astype(np.float32)  # to `auto`'s checks
    image = np.clip(cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
                    + rng.normal(0, 4, (size, size, 3)), 0, 255).astype(np.uint8)
    engine = Engine(ModelZoo(get_settings().models_dir), device, "auto")
    options = EngineOptions(model=model)
    engine.upscale(image, options)  # warm-up: load, precision choice, batch sizing, kernel selection
    counts, start = [0] * threads, time.perf_counter()

    def loop(index: int) -> None:
        while counts[index] == 0 or time.perf_counter() - start < seconds:
            engine.upscale(image, options)  # returns host pixels: each call ends when its image is done
            counts[index] += 1

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(loop, range(threads)))
    elapsed, count = time.perf_counter() - start, sum(counts)
    precision = engine.network(model).precision
    return {"source": f"own timed loop, {count} x {size}x{size} from {threads} threads, {elapsed:.1f} s",
            "run": f"ours auto->{precision}", "mp_per_s": count * size * size / 1e6 / elapsed, "ratio": None}


# --- reporting ------------------------------------------------------------------------------------

def _device_name(device: str) -> str | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return None


def _resolve_peak(args) -> tuple[float | None, str]:
    if args.peak_tflops:
        return args.peak_tflops, f"{args.peak_tflops:g} TFLOP/s (given)"
    peak = peak_tflops(args.device_name)
    if peak is None:
        card = args.device_name or "no CUDA device"
        return None, f"unknown peak for {card} (give --peak-tflops or ${PEAK_ENV})"
    return peak, f"{peak:g} TFLOP/s dense bf16 ({args.device_name}, vendor spec sheet)"


def _fmt(value, spec: str, missing: str = "not measured") -> str:
    return missing if value is None else format(value, spec)


def _pct(value, missing: str = "not measured") -> str:
    return missing if value is None else f"{100 * value:.1f}%"


def _verdict(value, target: float) -> str:
    return "n/a" if value is None else ("MET" if value >= target else "MISSED")


def headline(result: dict, busy: dict | None) -> tuple[list[str], str]:
    """The three headline numbers with their targets: printed lines and a markdown table."""
    ratio, fraction = result.get("ratio"), result.get("peak_fraction")
    busy_frac = busy.get("busy_fraction") if busy and busy.get("valid") else None
    busy_note = (busy or {}).get("note", "gpu_busy.py did not run")
    tflops = result.get("tflops")
    reference = _fmt(result.get("reference_mp_per_s"), ".3f", "?")
    ratio_text = "not measured" if ratio is None else (
        f"{ratio:.2f}x ({result['mp_per_s']:.3f} vs {reference} input MP/s)")
    tflops_text = "not measured" if tflops is None else (
        f"{tflops:.1f} TFLOP/s = {_pct(fraction, 'unknown share')} of {result['peak_text']}")
    rows = [
        ("ours vs reference fp16 one tile at a time", ratio_text, f">= {TARGETS['ratio']:g}x",
         _verdict(ratio, TARGETS["ratio"])),
        ("achieved TFLOP/s vs bf16 dense peak", tflops_text, f">= {100 * TARGETS['peak_fraction']:g}%",
         _verdict(fraction, TARGETS["peak_fraction"])),
        ("GPU busy during the 50-image pipeline run", f"{_pct(busy_frac)} ({busy_note})",
         f">= {100 * TARGETS['busy']:g}%", _verdict(busy_frac, TARGETS["busy"])),
    ]
    lines = [f"{name}: {value}  [target {target}: {verdict}]" for name, value, target, verdict in rows]
    table = "| measure | value | target | |\n|---|---|---|---|\n" + "\n".join(
        f"| {name} | {value} | {target} | {verdict} |" for name, value, target, verdict in rows)
    return lines, table


def print_costs(models: list[str], peak_text: str) -> None:
    print(f"{'model':<24} {'MACs / input px':>16} {'TFLOP / input MP':>17}")
    for name in models:
        macs = model_macs(name)
        print(f"{name:<24} {macs:>16,.0f} {tflop_per_megapixel(macs):>17.2f}")
    print(f"peak: {peak_text}")


def report_achieved(args, model: str, peak: float | None, peak_text: str) -> dict:
    """Achieved TFLOP/s of ``model``: from the best of the engine log's MP/s and, with --measure, our
    own timed loop (the engine log's small images give few tiles a batch); the ratio to the
    reference comes from the engine log only."""
    log = args.engine_log
    result = parse_engine_table(log.read_text()) if log and log.is_file() else None
    measured = None
    if args.measure:
        print(f"timing our engine on {args.device} for {args.measure:g} s", flush=True)
        measured = measure_engine(model, args.device, args.measure, args.measure_size)
        print(f"  {measured['run']} ({measured['source']}): {measured['mp_per_s']:.3f} input MP/s", flush=True)
    if result is None and measured is None:
        sys.exit("no megapixels/s: neither an engine result nor --measure")
    result = result or measured
    best = max((r for r in (result, measured) if r), key=lambda r: r["mp_per_s"])
    macs = model_macs(model)
    tflops, fraction = achieved(best["mp_per_s"], macs, peak)
    result.update(model=model, macs_per_px=macs, tflops=tflops, peak_tflops=peak, peak_text=peak_text,
                  peak_fraction=fraction, device_name=args.device_name,
                  tflops_run=f"{best['run']} ({best['source']})", tflops_mp_per_s=best["mp_per_s"])
    share = f" = {_pct(fraction)} of {peak_text}" if fraction is not None else f"; {peak_text}"
    print(f"{model}, {best['run']} ({best['source']}): {best['mp_per_s']:.3f} input MP/s x "
          f"{tflop_per_megapixel(macs):.2f} TFLOP/MP = {tflops:.1f} TFLOP/s{share}")
    return result


def print_summary(result: dict, busy: dict | None, write: bool) -> None:
    lines, table = headline(result, busy)
    print("\n".join(["== headline =="] + lines))
    if not write:
        return
    from bench.common import write_section

    macs = _fmt(result.get("macs_per_px"), ",.0f", "?")
    notes = (f"Ratio from {result.get('source', 'nowhere (no result)')}: {result.get('run', '-')}; TFLOP/s "
             f"from {result.get('tflops_run', '-')}, {_fmt(result.get('tflops_mp_per_s'), '.3f', '?')} input MP/s; "
             f"{result.get('model', MODELS[0])} costs {macs} multiply-adds per input pixel, counted from "
             "its layers (bench/flops.py). Useful work only: tile overlap is not counted, so the share of "
             "peak is a lower bound. Busy: mean of nvidia-smi's utilization.gpu (share of time a kernel "
             "was running) over the pipeline's measured batch (bench/gpu_busy.py).")
    write_section(SECTION_TITLE, f"{table}\n\n{notes}\n\nCommand: `bash bench/gpu.sh`")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated zoo model names (achieved TFLOP/s: the first)")
    parser.add_argument("--device", default="cuda", help="whose peak to look up, and where --measure runs")
    parser.add_argument("--device-name", help="card name for the peak lookup (default: the CUDA device's)")
    parser.add_argument("--peak-tflops", type=float, default=float(os.environ.get(PEAK_ENV) or 0),
                        help=f"dense bf16 peak of the card, overrides the table (or ${PEAK_ENV})")
    parser.add_argument("--engine-log", type=Path, help="bench/engine.py's stdout: MP/s of its best run")
    parser.add_argument("--measure", type=float, default=0,
                        help="seconds of our own timed loop, when --engine-log gives no result")
    parser.add_argument("--measure-size", type=int, default=1024)
    parser.add_argument("--json", type=Path, help="write the achieved-TFLOP/s result here")
    parser.add_argument("--summary", type=Path, help="a --json result: print the headline from it")
    parser.add_argument("--busy-json", type=Path, help="bench/gpu_busy.py's --json output, for --summary")
    parser.add_argument("--write", action="store_true",
                        help=f"with --summary: write the section '{SECTION_TITLE}' of bench/RESULTS.md")
    args = parser.parse_args()
    args.device_name = args.device_name or _device_name(args.device)

    if args.summary:
        def load(path: Path | None) -> dict | None:
            return json.loads(path.read_text()) if path and path.is_file() else None

        print_summary(load(args.summary) or {}, load(args.busy_json), args.write)
        return
    models = [m for m in args.models.split(",") if m]
    peak, peak_text = _resolve_peak(args)
    if not args.engine_log and not args.measure:
        print_costs(models, peak_text)
        return
    result = report_achieved(args, models[0], peak, peak_text)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
