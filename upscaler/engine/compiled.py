"""Optional ``torch.compile`` of a network's forward pass (``UPSCALER_TORCH_COMPILE``, off by default).

Why it is worth having: on an H200, inductor made the RRDBNet x4plus pass 1.57x faster
(bench/network_speed.py): it fuses the bias adds, LeakyReLUs and the dense blocks'
concatenations, which take over half the GPU time in eager mode. Why it is off: compiling takes
tens of seconds per process (43.8 s measured there for one shape), paid while the model loads,
and it has not yet been measured inside the engine.

Tile windows change size from image to image, so the forward is compiled with dynamic shapes:
one compilation serves a whole range of window and batch sizes. PyTorch still specialises a batch
of one tile, and its convolution rules split sizes into a few ranges (seen on CPU: batches of 2
to 15, windows under ~83x83 pixels), so a worker compiles a few more times, each logged with
its seconds, the first time a batch falls in a new range; never once per image size.
Only the precision the engine settled on is compiled (the precision probe runs eagerly, and so
does fp32 after a broken reduced-precision result moves a network to it, a rare event). Any
failure to compile or run compiled code (no C++ compiler, no Triton, an unsupported layer) is
logged once and that network runs eagerly from then on, as it would with the setting off.
"""

from __future__ import annotations

import logging
import threading
import time

import torch

log = logging.getLogger(__name__)


class CompiledForward:
    """``module(x)`` through ``torch.compile``, falling back to the eager module for good on error."""

    def __init__(self, name: str, module: torch.nn.Module) -> None:
        self.name, self.eager = name, module
        self.compiled = torch.compile(module, dynamic=True)
        self.failed = False
        self.compilations = 0
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.failed:
            return self.eager(x)
        try:
            graphs_before, start = _graphs_compiled(), time.perf_counter()
            y = self.compiled(x)
            if _graphs_compiled() > graphs_before:
                self.compilations += 1
                log.info("%s: compiled for %s batches of %s tiles of %sx%s in %.1f s", self.name, x.dtype,
                         x.shape[0], x.shape[2], x.shape[3], time.perf_counter() - start)
            return y
        except Exception as exc:  # noqa: BLE001 - whatever inductor raises, eager still works
            if _capturing(x):
                # Inside a CUDA graph capture (engine/graphs.py) the capture is what failed: let
                # the graph cache turn graphs off, and keep the compiled code.
                raise
            with self._lock:
                if not self.failed:
                    log.warning("%s: torch.compile failed (%s: %s); running eagerly", self.name,
                                type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
                self.failed = True
            return self.eager(x)

    def warm_up(self, batch: int, height: int, width: int, dtype: torch.dtype, device: torch.device) -> float:
        """Compile for batches like this now rather than on the first image; the seconds it took.
        Give a height and width that differ: equal ones make the compiled code assume square
        windows (torch's "duck sizing") and compile again for the first oblong one."""
        start = time.perf_counter()
        # Made and run as the engine runs tiles (inference tensors, channels_last): an input of
        # another kind would guard the compiled code off and compile it again on the first image.
        with torch.inference_mode():
            x = torch.rand(batch, 3, height, width, device=device).to(dtype)
            self(x.contiguous(memory_format=torch.channels_last))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start


def _capturing(x: torch.Tensor) -> bool:
    return x.device.type == "cuda" and torch.cuda.is_current_stream_capturing()


def _graphs_compiled() -> int:
    """How many graphs dynamo has compiled in this process (its own statistics counter)."""
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]
