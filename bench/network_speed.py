"""The network alone on one device: where its time goes, and what would make it faster.

    python bench/network_speed.py --device cuda                      # see bench/gpu.sh
    python bench/network_speed.py --device cuda --profile 16x195 --graphs 16x195 --compile 16x195

For each precision and each ``BATCHxWINDOW`` shape: forward passes of the model on random input
in ``channels_last`` (as the engine runs it), timed with CUDA events after a warm-up (cuDNN
picks its kernels per shape then), as milliseconds per pass, window megapixels/s and the
hardware TFLOP/s that implies (every window pixel costs the model's multiply-adds, overlap
included), plus the host time the eager forward takes just to queue its kernels. Options:

- ``--profile SHAPE``: the GPU time by kernel family (convolutions, concatenations, activations,
  element-wise, copies) from torch.profiler, fp16.
- ``--graphs SHAPE``: the same pass captured once as a CUDA graph and replayed (one launch
  instead of one per layer).
- ``--compile SHAPE``: ``torch.compile`` (inductor), its compile time and speed; last, since
  compilation cannot be interrupted: bound the run with ``timeout``.

Nothing is written to bench/RESULTS.md: the figures inform bench/engine.py's settings.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401  (before basicsr)
from bench.flops import model_macs, tflop_per_megapixel  # noqa: E402
from upscaler.engine.network import DTYPES  # noqa: E402
from upscaler.settings import get_settings  # noqa: E402
from upscaler.zoo.archs import build  # noqa: E402
from upscaler.zoo.registry import ModelZoo  # noqa: E402


def parse_shape(text: str) -> tuple[int, int]:
    batch, window = text.lower().split("x")
    return int(batch), int(window)


def make_input(batch: int, window: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    x = torch.rand(batch, 3, window, window, device=device, dtype=torch.float32)
    return x.to(dtype).contiguous(memory_format=torch.channels_last)


def time_calls(fn, device: torch.device, min_seconds: float = 1.0) -> tuple[float, float]:
    """(ms per call on the device, ms of host time per call to queue it), after 3 warm-up calls."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize(device)
    host_start = time.perf_counter()
    fn()
    host_ms = (time.perf_counter() - host_start) * 1000
    torch.cuda.synchronize(device)
    calls, elapsed = 0, 0.0
    while elapsed < min_seconds * 1000 or calls < 3:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        elapsed += start.elapsed_time(end)
        calls += 1
    return elapsed / calls, host_ms


def family(kernel: str) -> str:
    name = kernel.lower()
    for key, label in (("conv", "convolution"), ("xmma", "convolution"), ("implicit", "convolution"),
                       ("gemm", "convolution"), ("cat", "concatenation"), ("leaky", "activation"),
                       ("copy", "copy / layout"), ("memcpy", "copy / layout"), ("nchw", "copy / layout"),
                       ("nhwc", "copy / layout"), ("elementwise", "element-wise"), ("vectorized", "element-wise")):
        if key in name:
            return label
    return "other"


def profile(net, x: torch.Tensor) -> None:
    from torch.profiler import ProfilerActivity, profile as torch_profile

    with torch.inference_mode():
        for _ in range(2):
            net(x)
        torch.cuda.synchronize()
        with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                net(x)
            torch.cuda.synchronize()
    by_family: dict[str, float] = defaultdict(float)
    kernels = []
    for event in prof.key_averages():
        device_us = getattr(event, "device_time_total", None) or getattr(event, "cuda_time_total", 0)
        if device_us and event.key and not event.key.startswith("aten::"):
            by_family[family(event.key)] += device_us
            kernels.append((device_us, event.count, event.key))
    total = sum(by_family.values()) or 1
    print(f"  GPU time by kernel family (3 passes, {total / 3000:.1f} ms a pass):")
    for name, us in sorted(by_family.items(), key=lambda item: -item[1]):
        print(f"    {name:<16} {100 * us / total:5.1f}%  {us / 3000:8.2f} ms a pass")
    print("  top kernels:")
    for us, count, key in sorted(kernels, reverse=True)[:12]:
        print(f"    {100 * us / total:5.1f}%  x{count:<5} {key[:110]}")


def graphed(net, x: torch.Tensor):
    static_in = x.clone()
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.inference_mode(), torch.cuda.stream(stream):
        for _ in range(3):
            net(static_in)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        net(static_in)
    return graph.replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default="realesrgan-x4plus")
    parser.add_argument("--precisions", default="fp16,bf16")
    parser.add_argument("--shapes", default="1x195,4x195,16x195,36x195,64x224,4x512,16x512")
    parser.add_argument("--profile", help="a BATCHxWINDOW shape to profile (fp16)")
    parser.add_argument("--graphs", help="a BATCHxWINDOW shape to time as a CUDA graph (fp16)")
    parser.add_argument("--compile", help="a BATCHxWINDOW shape to time under torch.compile (fp16)")
    parser.add_argument("--compile-mode", default="default")
    args = parser.parse_args()

    device = torch.device(args.device)
    if device.type != "cuda":
        sys.exit("network_speed.py times with CUDA events: run it with --device cuda on a GPU")
    torch.backends.cudnn.benchmark = True
    info, state = ModelZoo(get_settings().models_dir).load(args.model)
    tflop_per_mp = tflop_per_megapixel(model_macs(args.model))
    print(f"{args.model}: {tflop_per_mp:.2f} TFLOP per window megapixel; {torch.cuda.get_device_name(device)}, "
          f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}")
    nets = {p: build(info.spec, state).to(device, DTYPES[p]).to(memory_format=torch.channels_last).eval()
            for p in args.precisions.split(",")}

    def report(label: str, batch: int, window: int, ms: float, host_ms: float | None = None) -> None:
        mp = batch * window * window / 1e6
        host = f", host {host_ms:6.1f} ms to queue" if host_ms is not None else ""
        print(f"{label:<34} {ms:8.2f} ms  {mp / ms * 1000:7.2f} window MP/s  "
              f"{mp * tflop_per_mp / ms * 1000:6.1f} TFLOP/s{host}", flush=True)

    for precision, net in nets.items():
        for shape in args.shapes.split(","):
            batch, window = parse_shape(shape)
            x = make_input(batch, window, DTYPES[precision], device)
            with torch.inference_mode():
                ms, host_ms = time_calls(lambda: net(x), device)
            report(f"{precision} {batch}x{window}", batch, window, ms, host_ms)
            del x
            torch.cuda.empty_cache()

    fp16 = nets.get("fp16") or build(info.spec, state).to(device, torch.float16).to(
        memory_format=torch.channels_last).eval()
    if args.profile:
        batch, window = parse_shape(args.profile)
        print(f"profile fp16 {batch}x{window}:", flush=True)
        profile(fp16, make_input(batch, window, torch.float16, device))
    if args.graphs:
        batch, window = parse_shape(args.graphs)
        x = make_input(batch, window, torch.float16, device)
        with torch.inference_mode():
            ms, host_ms = time_calls(lambda: fp16(x), device)
        report(f"fp16 {batch}x{window} eager", batch, window, ms, host_ms)
        replay = graphed(fp16, x)
        ms, host_ms = time_calls(replay, device)
        report(f"fp16 {batch}x{window} CUDA graph", batch, window, ms, host_ms)
    if args.compile:
        batch, window = parse_shape(args.compile)
        x = make_input(batch, window, torch.float16, device)
        compiled = torch.compile(fp16, mode=args.compile_mode)
        start = time.perf_counter()
        with torch.inference_mode():
            compiled(x)
            torch.cuda.synchronize()
            print(f"torch.compile ({args.compile_mode}): {time.perf_counter() - start:.1f} s to compile", flush=True)
            ms, host_ms = time_calls(lambda: compiled(x), device)
        report(f"fp16 {batch}x{window} compiled", batch, window, ms, host_ms)


if __name__ == "__main__":
    main()
