"""A loaded network behind a fixed contract: NHWC float32 RGB in 0..1 on the host, out the same.

Callers never touch the ``nn.Module``: this wrapper moves batches to the device in the chosen
precision and memory format, pads to the size the network needs, clamps, and guards against
half-precision overflow (NaN/inf or an all-black result from a non-black input), in which case
it recomputes the batch in fp32 and stays in fp32 from then on.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import torch
import torch.nn.functional as F

from upscaler.engine.compiled import CompiledForward
from upscaler.engine.graphs import GraphCache
from upscaler.zoo.archs import ArchSpec, StateDict, build

log = logging.getLogger(__name__)

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# An input brighter than this anywhere cannot legitimately come out all black.
BLACK_INPUT_MAX = 0.02


class Network:
    def __init__(self, name: str, spec: ArchSpec, state: StateDict, device: torch.device, precision: str,
                 cuda_graphs: bool = True, torch_compile: bool = False) -> None:
        self.name, self.spec, self.device = name, spec, device
        self.scale = spec.scale
        self._state = state
        self._modules: dict[str, torch.nn.Module] = {}
        self._lock = threading.Lock()
        self.precision = precision
        self._graphs: GraphCache | None = None
        self.torch_compile = torch_compile
        self._compiled: dict[str, CompiledForward] = {}  # see engine/compiled.py
        if device.type == "cuda":
            # Tiles come in a few fixed shapes per image, so cuDNN's per-shape search for the
            # fastest convolution kernels pays for itself after the first batch of each shape.
            torch.backends.cudnn.benchmark = True
            self._graphs = GraphCache(name, device) if cuda_graphs else None
        self.module(precision)

    def module(self, precision: str) -> torch.nn.Module:
        with self._lock:
            net = self._modules.get(precision)
            if net is None:
                net = build(self.spec, self._state).to(self.device, DTYPES[precision])
                net = net.to(memory_format=torch.channels_last)
                net.requires_grad_(False)
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
        """(B, H, W, 3) float32 in 0..1 -> (B, H*s, W*s, 3) float32 in 0..1."""
        return self.submit(batch, precision).result()

    def submit(self, batch: np.ndarray, precision: str | None = None) -> "PendingBatch":
        """Start a batch and return at once on CUDA (the GPU works while the caller prepares the
        next batch and assembles the previous one); on CPU the work is done here."""
        precision = precision or self.precision
        return PendingBatch(self, batch, precision, self._launch(batch, precision))

    def launch_on_device(self, batch: np.ndarray,
                         precision: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Queue a batch and return at once: (B, H*s, W*s, 3) float32 in 0..1 on the device, and
        a boolean tensor there that is true if the output is broken (NaN/inf, or black from a
        non-black input): read it only after the output is needed anyway, since reading it waits
        for the device. The caller then recomputes in fp32 (see :meth:`fall_back_to_fp32`)."""
        y = self._output_on_device(batch, precision or self.precision)
        broken = ~torch.isfinite(y).all()
        if batch.max() > BLACK_INPUT_MAX:
            broken |= y.amax() == 0
        return y, broken

    def fall_back_to_fp32(self) -> None:
        log.warning("%s: %s output was NaN/inf or black; recomputing in fp32 and staying there",
                    self.name, self.precision)
        self.precision = "fp32"

    def _output_on_device(self, batch: np.ndarray, precision: str) -> torch.Tensor:
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
            return y.clamp_(0, 1).permute(0, 2, 3, 1)

    def _launch(self, batch: np.ndarray, precision: str):
        y = self._output_on_device(batch, precision)
        if self.device.type != "cuda":
            return y.contiguous(), None
        with torch.inference_mode():
            host = torch.empty(y.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(y, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host, done

    def _forward(self, batch: np.ndarray, precision: str) -> np.ndarray:
        return _collect(self._launch(batch, precision))

    @staticmethod
    def _broken(batch: np.ndarray, out: np.ndarray) -> bool:
        if not np.isfinite(out).all():
            return True
        return bool(out.max() == 0.0 and batch.max() > BLACK_INPUT_MAX)


def _collect(launched) -> np.ndarray:
    host, done = launched
    if done is not None:
        done.synchronize()
    return host.numpy()


class PendingBatch:
    """A batch on its way through the network; :meth:`result` waits for it."""

    def __init__(self, network: Network, batch: np.ndarray, precision: str, launched) -> None:
        self.network, self.batch, self.precision, self._launched = network, batch, precision, launched

    def result(self) -> np.ndarray:
        out = _collect(self._launched)
        if self.precision != "fp32" and Network._broken(self.batch, out):
            self.network.fall_back_to_fp32()
            out = self.network._forward(self.batch, "fp32")
        return out
