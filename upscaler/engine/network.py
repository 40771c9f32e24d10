"""A loaded network on torch, behind the engine's contract (engine/network_contract.py): NHWC
float32 RGB in 0..1 on the host, out the same. (On CPUs OpenVINO may run it instead:
engine/openvino_network.py, chosen in engine/backends.py.)

Callers never touch the ``nn.Module``: this wrapper moves batches to the device in the precision
asked for and the channels_last memory format, pads to the size the network needs, clamps, and
says whether a reduced-precision output is broken (NaN/inf, or all black from a non-black input:
half-precision overflow). What to do about a broken output is the engine's call (engine.py: the
image again in fp32); the network's own precision, the one the engine starts each image in, is
chosen here at load (``auto``: measured, engine/devices.py) and changes only through
:meth:`Network.fall_back_to_fp32`.
"""

from __future__ import annotations

import functools
import logging
import threading

import numpy as np
import torch
import torch.nn.functional as F

from upscaler.engine.calibration import CalibrationCache
from upscaler.engine.compiled import CompiledForward
from upscaler.engine.devices import Device, pick_precision
from upscaler.engine.graphs import GraphCache
from upscaler.engine.network_contract import BLACK_INPUT_MAX
from upscaler.zoo.archs import ArchSpec, StateDict, build

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class Network:
    runtime = "torch"

    def __init__(self, name: str, spec: ArchSpec, state: StateDict, device: Device | torch.device, precision: str,
                 cuda_graphs: bool = True, torch_compile: bool = False, calibration: CalibrationCache | None = None,
                 weights_sha256: str = "", fused_kernels: bool = False) -> None:
        """``precision``: fp32, fp16, bf16, or auto (the fastest that keeps fp32's quality: engine/
        devices.py; measured now, or read from ``calibration`` where this machine measured it for
        these weights before). ``fused_kernels``: RRDBNet's dense blocks on Triton kernels
        (engine/fused/), CUDA only."""
        device = torch.device(str(device))
        self.name, self.spec, self.device = name, spec, device
        self.scale = spec.scale
        self._state = state
        self._modules: dict[str, torch.nn.Module] = {}
        self._lock = threading.Lock()
        self._precision = "fp32" if precision == "auto" else precision
        self._graphs: GraphCache | None = None
        self.torch_compile = torch_compile
        self._compiled: dict[str, CompiledForward] = {}  # see engine/compiled.py
        self.fused_kernels = fused_kernels and device.type == "cuda"
        if fused_kernels and not self.fused_kernels:
            _fused_kernels_need_cuda()
        if device.type == "cuda":
            # Tiles come in a few fixed shapes per image, so cuDNN's per-shape search for the
            # fastest convolution kernels pays for itself after the first batch of each shape.
            torch.backends.cudnn.benchmark = True
            self._graphs = GraphCache(name, device) if cuda_graphs else None
        self.module(self._precision)
        if precision == "auto":
            def measure() -> str:
                return pick_precision(self, device)

            known = calibration is not None and weights_sha256
            self._precision = calibration.choose(name, device, weights_sha256, measure) if known else measure()

    @property
    def precision(self) -> str:
        """The precision each image starts in: fp32, fp16 or bf16."""
        return self._precision

    def fall_back_to_fp32(self) -> None:
        """A reduced-precision output came out broken: every image from now on starts in fp32."""
        with self._lock:
            if self._precision == "fp32":
                return
            log.warning("%s: %s output was NaN/inf or black; computing in fp32 from now on", self.name,
                        self._precision)
            self._precision = "fp32"

    def module(self, precision: str) -> torch.nn.Module:
        with self._lock:
            net = self._modules.get(precision)
            if net is None:
                net = build(self.spec, self._state).to(self.device, DTYPES[precision])
                net = net.to(memory_format=torch.channels_last)
                net.requires_grad_(False)
                if self.fused_kernels:
                    from upscaler.engine.fused import fuse_dense_blocks  # imports Triton: only when asked

                    net = fuse_dense_blocks(net)
                self._modules[precision] = net
            return net

    def compile(self, batch: int, window: int) -> float:
        """With ``torch_compile`` on: compile the forward in the current precision now, for batches
        like ``batch`` tiles of ``window`` pixels (other sizes reuse it: dynamic shapes); the
        seconds it took (0 when off). Done after the precision is chosen, so only it compiles."""
        if not self.torch_compile or self.precision in self._compiled:
            return 0.0
        compiled = CompiledForward(self.name, self.module(self.precision))
        self._compiled[self.precision] = compiled
        oblong = window - self.spec.size_multiple  # a size the network takes, not equal to window
        return compiled.warm_up(batch, window, oblong, DTYPES[self.precision], self.device)

    @property
    def compile_status(self) -> str:
        """For reports: "off", "failed (eager)", or how many compilations the current precision took."""
        forward = self._compiled.get(self.precision)
        if forward is None:
            return "off"
        return "failed (eager)" if forward.failed else f"{forward.compilations} compilation(s)"

    def run(self, batch: np.ndarray, precision: str | None = None) -> np.ndarray:
        """(B, H, W, 3) float32 in 0..1 -> (B, H*s, W*s, 3) float32 in 0..1, unchecked (the precision
        probe compares outputs itself); ``precision``: default :attr:`precision`."""
        return self.submit(batch, precision or self._precision).result()[0]

    def submit(self, batch: np.ndarray, precision: str) -> "PendingBatch":
        """Start a batch and return at once on CUDA (the GPU works while the caller prepares the
        next batch and assembles the previous one); on CPU the work is done here."""
        y, broken = self._output_on_device(batch, precision)
        if self.device.type != "cuda":
            return PendingBatch(y.contiguous(), None, broken)
        with torch.inference_mode():
            host = torch.empty(y.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(y, non_blocking=True)
            if broken is not None:
                # The verdict travels with the output: read on the device, it would wait for the
                # next batch, queued behind this one by then.
                broken = torch.empty((), dtype=torch.bool, pin_memory=True).copy_(broken, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return PendingBatch(host, done, broken)

    def launch_on_device(self, batch: np.ndarray, precision: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Queue a batch and return at once: (B, H*s, W*s, 3) float32 in 0..1 on the device, and,
        in reduced precision, a boolean tensor there that is true if the output is broken (None in
        fp32): read it only after the output is needed anyway, since reading it waits for the
        device."""
        return self._output_on_device(batch, precision)

    def _output_on_device(self, batch: np.ndarray,
                          precision: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self._forward(batch, precision)
        with torch.inference_mode():
            broken = None
            if precision != "fp32":
                # Checked before the clamp, which would turn an overflow's inf into plain white.
                broken = ~torch.isfinite(y).all()
                if batch.max() > BLACK_INPUT_MAX:
                    broken |= y.amax() <= 0
            return y.clamp_(0, 1), broken

    def _forward(self, batch: np.ndarray, precision: str) -> torch.Tensor:
        """The network's float32 output on the device, NHWC, not yet clamped."""
        net = self._compiled.get(precision) or self.module(precision)
        _, h, w, _ = batch.shape
        m = self.spec.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch))
            # Pinned host memory: the copy runs asynchronously, queued behind the GPU's work.
            if self.device.type == "cuda":
                x = x.pin_memory().to(self.device, non_blocking=True)
            # NHWC viewed as NCHW is channels_last already: no copy on the way in.
            x = x.permute(0, 3, 1, 2).to(DTYPES[precision]).contiguous(memory_format=torch.channels_last)
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
            if self._graphs:
                y = self._graphs.forward(net, x, precision)[:, :, : h * self.scale, : w * self.scale]
                # A graph's output is overwritten by its next replay: take a copy (a conversion is one).
                y = y.float() if y.dtype != torch.float32 else y.clone()
            else:
                y = net(x)[:, :, : h * self.scale, : w * self.scale].float()
            return y.permute(0, 2, 3, 1)


@functools.cache
def _fused_kernels_need_cuda() -> None:
    log.warning("fused kernels need CUDA: the network runs eagerly on this device")


class PendingBatch:
    """A batch on its way through the network: its output, and its verdict in reduced precision,
    copied to the host (on CUDA asynchronously: :meth:`result` waits for both)."""

    def __init__(self, host: torch.Tensor, done: torch.cuda.Event | None,
                 broken: torch.Tensor | None) -> None:
        self._host, self._done, self._broken = host, done, broken

    def result(self) -> tuple[np.ndarray, bool]:
        """The output on the host, and whether it is broken (always False in fp32)."""
        if self._done is not None:
            self._done.synchronize()
        return self._host.numpy(), self._broken is not None and bool(self._broken)
