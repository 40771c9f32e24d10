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
- ``--compare BATCHxTILE``: the ways to run the network side by side, fp16 (see :func:`compare`):
  the reference's call (RealESRGANer: one tile with 10 px of context, NCHW), ours eager, as a CUDA
  graph, on the fused dense-block kernels (engine/fused/, also as a graph), under
  ``torch.compile`` and under TensorRT (where ``torch_tensorrt`` imports; skipped otherwise).
  Input MP/s, the ratio to the reference's call, TFLOP/s and share of the card's dense bf16 peak;
  ``--write`` puts the table in bench/RESULTS.md (bench/gpu.sh), row by row, so that a run cut
  short by its timeout still leaves what it measured.

Otherwise nothing is written to bench/RESULTS.md: the figures inform bench/engine.py's settings.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import upscaler.compat  # noqa: E402,F401  (before basicsr)
from bench.common import write_section  # noqa: E402
from bench.flops import model_macs, peak_tflops, tflop_per_megapixel  # noqa: E402
from upscaler.engine.network import DTYPES  # noqa: E402
from upscaler.settings import DEFAULT_TILE_PAD, get_settings  # noqa: E402
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
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

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


COMPARE_TITLE = "Network alone: the reference's call against ours (CUDA)"
REFERENCE_PAD = 10  # RealESRGANer(tile=200, tile_pad=10): each call is one 220 x 220 window


def quality(exact: torch.Tensor, output: torch.Tensor) -> float:
    """PSNR in dB of an output against the fp32 one, both clamped to 0..1 as the engine does."""
    mse = (exact.clamp(0, 1) - output.float().clamp(0, 1)).pow(2).mean().item()
    return float("inf") if mse == 0 else -10 * torch.log10(torch.tensor(mse)).item()


def tensorrt_forward(net, x: torch.Tensor):
    """``net`` compiled by Torch-TensorRT for ``x``'s shape in fp16; raises where it cannot be."""
    import torch_tensorrt  # not a dependency: installed by hand where wanted (docs/engine.md)

    try:
        return torch_tensorrt.compile(net, ir="dynamo", inputs=[x], enabled_precisions={torch.float16})
    except TypeError:  # newer releases type the engine from the module's own dtype instead
        return torch_tensorrt.compile(net, ir="dynamo", inputs=[x], use_explicit_typing=True)


def compare(spec, state, batch: int, tile: int, pad: int, device: torch.device, macs: float,
            write: bool) -> None:
    """The network's forward pass run each way we know, fp16, on ``batch`` tiles of ``tile`` pixels
    with ``pad`` pixels of context, against the call RealESRGANer makes for the same pixels (one
    tile, 10 px of context, NCHW: what its fp16 loop costs on the GPU, its host work left out).

    Rates are input (tile) megapixels per second, so the reference's and our overlaps both count
    as cost; TFLOP/s likewise counts useful work only (as bench/flops.py does), and its share of
    the card's dense bf16 peak is a lower bound. Each way that fails is reported and skipped."""
    from upscaler.engine.fused import fuse_dense_blocks
    from upscaler.zoo.archs import build

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still leaves the rows written
    name = torch.cuda.get_device_name(device)
    peak, tflop_per_mp = peak_tflops(name), tflop_per_megapixel(macs)
    window = tile + 2 * pad
    rows: list[str] = []
    reference_rate: list[float] = []

    def fp16(channels_last: bool = True, fused: bool = False) -> torch.nn.Module:
        net = build(spec, state).to(device, torch.float16).eval().requires_grad_(False)
        net = net.to(memory_format=torch.channels_last) if channels_last else net
        return fuse_dense_blocks(net) if fused else net

    def record(label: str, fn, tiles: int, note: str = "") -> None:
        ms, _ = time_calls(fn, device)
        rate = tiles * tile * tile / 1e6 / ms * 1000
        reference_rate[:] = reference_rate or [rate]
        tflops = rate * tflop_per_mp
        share = f"{100 * tflops / peak:.1f}%" if peak else "unknown peak"
        rows.append(f"| {label} | {ms:.2f} | {rate:.3f} | {rate / reference_rate[0]:.2f} | {tflops:.1f} | {share} "
                    f"| {note} |")
        print(rows[-1], flush=True)
        publish()

    def publish() -> None:
        if not write:
            return
        table = ("| run (fp16) | ms a call | input MP/s | ratio | TFLOP/s (useful) | share of peak | notes |\n"
                 "|---|---|---|---|---|---|---|\n" + "\n".join(rows))
        write_section(COMPARE_TITLE, f"{table}\n\n{name}; peak {peak or 'unknown'} TFLOP/s dense bf16 "
                      f"(bench/flops.py). Ours: {batch} tiles of {tile} px with {pad} px of context, "
                      f"channels_last; PSNR against the same network in fp32, clamped to 0..1. The "
                      f"network alone: the engine around it is bench/engine.py's table.\n\nCommand: "
                      f"`bench/network_speed.py {' '.join(sys.argv[1:])}`")

    def note(label: str, text: str) -> None:
        rows.append(f"| {label} | - | - | - | - | - | {text} |")
        print(rows[-1], flush=True)
        publish()

    def attempt(label: str, run) -> None:
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - one way failing must not stop the others
            message = str(exc).splitlines()[0][:160] if str(exc) else ""
            note(label, f"failed: {type(exc).__name__}: {message}".replace("|", "/"))
        torch.cuda.empty_cache()

    # no_grad, not inference_mode: modules and inputs made here stay ordinary tensors, which
    # torch.compile and Torch-TensorRT's export take as they are.
    with torch.no_grad():
        x_ref = torch.rand(1, 3, tile + 2 * REFERENCE_PAD, tile + 2 * REFERENCE_PAD, device=device).half()
        reference = fp16(channels_last=False)
        record(f"reference's call: 1 x {tile + 2 * REFERENCE_PAD}, NCHW", lambda: reference(x_ref), 1)
        del reference
        x = make_input(batch, window, torch.float16, device)
        exact = build(spec, state).to(device).eval().to(memory_format=torch.channels_last)(x.float())
        eager = fp16()
        label = f"ours {batch} x {window}"
        record(f"{label} eager", lambda: eager(x), batch, f"{quality(exact, eager(x)):.1f} dB")
        attempt(f"{label} CUDA graph", lambda: record(f"{label} CUDA graph", graphed(eager, x), batch))

        def fused_runs() -> None:
            start = time.perf_counter()
            fused = fp16(fused=True)
            out = fused(x)  # the first call tunes and compiles the kernels
            torch.cuda.synchronize(device)
            note = f"{quality(exact, out):.1f} dB; {time.perf_counter() - start:.0f} s to tune and compile"
            record(f"{label} fused kernels", lambda: fused(x), batch, note)
            attempt(f"{label} fused kernels, CUDA graph",
                    lambda: record(f"{label} fused kernels, CUDA graph", graphed(fused, x), batch))

        attempt(f"{label} fused kernels", fused_runs)
        exactness = "fused kernels, fp32, 1 x 64, against eager fp32 (no TF32)"
        attempt(exactness, lambda: note(exactness, fused_fp32_check(spec, state, device)))

        def compiled_run() -> None:
            start = time.perf_counter()
            compiled = torch.compile(eager)
            out = compiled(x)
            torch.cuda.synchronize(device)
            note = f"{quality(exact, out):.1f} dB; {time.perf_counter() - start:.0f} s to compile"
            record(f"{label} torch.compile", lambda: compiled(x), batch, note)

        attempt(f"{label} torch.compile", compiled_run)

        def tensorrt_run() -> None:
            torch._dynamo.reset()  # Torch-TensorRT traces with dynamo too: no state from the step above
            start = time.perf_counter()
            engine = tensorrt_forward(eager, x)
            out = engine(x)
            torch.cuda.synchronize(device)
            note = f"{quality(exact, out):.1f} dB; {time.perf_counter() - start:.0f} s to build"
            record(f"{label} TensorRT", lambda: engine(x), batch, note)

        attempt(f"{label} TensorRT", tensorrt_run)


def fused_fp32_check(spec, state, device: torch.device) -> str:
    """The fused kernels in fp32 against the eager network in fp32 (cuDNN without TF32): how far."""
    from upscaler.engine.fused import fuse_dense_blocks
    from upscaler.zoo.archs import build

    allowed = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        net = build(spec, state).to(device).eval().to(memory_format=torch.channels_last)
        x = make_input(1, 64, torch.float32, device)
        exact = net(x)
        out = fuse_dense_blocks(net)(x)
    finally:
        torch.cuda.synchronize(device)
        torch.backends.cudnn.allow_tf32 = allowed
    return f"max abs {(exact - out).abs().max().item():.2e}, {quality(exact, out):.1f} dB"


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
    parser.add_argument("--compare", help="BATCHxTILE: the reference's call against ours, every way (fp16)")
    parser.add_argument("--tile-pad", type=int, default=DEFAULT_TILE_PAD, help="--compare: context per side")
    parser.add_argument("--write", action="store_true", help=f"--compare: write '{COMPARE_TITLE}' in RESULTS.md")
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
        for shape in filter(None, args.shapes.split(",")):
            batch, window = parse_shape(shape)
            x = make_input(batch, window, DTYPES[precision], device)
            with torch.inference_mode():
                ms, host_ms = time_calls(lambda: net(x), device)
            report(f"{precision} {batch}x{window}", batch, window, ms, host_ms)
            del x
            torch.cuda.empty_cache()

    if args.compare:
        batch, tile = parse_shape(args.compare)
        compare(info.spec, state, batch, tile, args.tile_pad, device, model_macs(args.model), args.write)
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
