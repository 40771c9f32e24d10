"""Choosing the device, the precision and the tile batch size.

``auto`` precision is measured, not assumed: on the first use of a model the candidates the
hardware supports (fp16 and bf16 on CUDA, bf16 on CPUs with native bf16) run a small fixed
texture patch next to fp32; the fastest one whose output stays within ``MIN_PSNR_DB`` of fp32
wins, fp32 otherwise.

Nothing here imports torch until a torch device needs it: a CPU run on OpenVINO (engine/
backends.py) resolves its device, measures its precision and sizes its batches without it.
"""

from __future__ import annotations

import ctypes
import logging
import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from upscaler.evaluation.image_metrics import psnr

log = logging.getLogger(__name__)

MIN_PSNR_DB = 45.0
CALIBRATION_SIZE = 64  # input pixels per side: big enough to exercise every layer, cheap on CPU
CALIBRATION_ROUNDS = 3


@dataclass(frozen=True)
class Device:
    """Where a network runs, spelled as torch spells it ("cpu", "cuda", "cuda:1") but without
    importing torch; ``torch.device(str(device))`` is the torch one."""

    type: str
    index: int | None = None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


def cuda_driver_loadable() -> bool:
    """Whether the NVIDIA driver's library can be loaded: without it torch has no CUDA device
    either, so ``auto`` can say "cpu" without importing torch (seconds) just to ask."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def cuda_available() -> bool:
    if not cuda_driver_loadable():
        return False
    import torch

    return torch.cuda.is_available()


def resolve_device(name: str) -> Device:
    """``auto``, ``cpu`` or ``cuda`` -> the device (``auto``: CUDA where torch sees one)."""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {name!r}: choose auto, cpu or cuda")
    if name == "auto":
        return Device("cuda" if cuda_available() else "cpu")
    if name == "cuda" and not cuda_available():
        raise ValueError("device 'cuda' requested but no CUDA device is available")
    return Device(name)


def cpu_has_native_bf16() -> bool:
    import torch

    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def candidate_precisions(device: Device) -> list[str]:
    """Reduced precisions worth trying on this device with torch, fastest first; fp32 is always
    possible. (OpenVINO asks its own CPU plugin: engine/openvino_network.py.)"""
    if device.type == "cuda":
        import torch

        return ["fp16", "bf16"] if torch.cuda.is_bf16_supported() else ["fp16"]
    return ["bf16"] if cpu_has_native_bf16() else []


def calibration_patch(size: int = CALIBRATION_SIZE) -> np.ndarray:
    """A fixed, texture-like RGB patch (edges, gradients, fine noise) in 0..1."""
    rng = np.random.default_rng(1234)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([0.5 + 0.4 * np.sin(9 * xx + 3 * yy), 0.4 + 0.3 * np.cos(7 * yy), 0.3 + 0.5 * xx * yy], -1)
    blocks = ((xx * 6).astype(int) + (yy * 6).astype(int)) % 2
    patch = base * (0.7 + 0.3 * blocks[..., None]) + rng.normal(0, 0.02, (size, size, 3))
    return np.clip(patch, 0, 1).astype(np.float32)[None]


def pick_precision(network, device: Device, candidates: Sequence[str] | None = None) -> str:
    """The fastest precision whose output on the calibration patch is >= MIN_PSNR_DB from fp32;
    ``candidates``: the reduced precisions to try (default: what torch offers on ``device``)."""
    candidates = candidate_precisions(device) if candidates is None else list(candidates)
    if not candidates:
        return "fp32"
    patch = calibration_patch()
    outputs = {p: network.run(patch, p) for p in ["fp32", *candidates]}  # also warms each up
    # Interleaved rounds, best of each: robust against the machine's own load changing.
    seconds = {p: float("inf") for p in outputs}
    for _ in range(CALIBRATION_ROUNDS):
        for precision in outputs:
            start = time.perf_counter()
            network.run(patch, precision)
            seconds[precision] = min(seconds[precision], time.perf_counter() - start)
    best = "fp32"
    for precision in candidates:
        quality = psnr(outputs[precision], outputs["fp32"])
        log.info("%s on %s: %s %.1f dB from fp32, %.3f s vs fp32 %.3f s", network.name, device,
                 precision, quality, seconds[precision], seconds["fp32"])
        if quality >= MIN_PSNR_DB and seconds[precision] < seconds[best]:
            best = precision
    return best


def tile_batch_size(device: Device, window: int, scale: int, feature_width: int) -> int:
    """How many tiles to run at once: from free memory on CUDA; a small fixed number on CPU."""
    if device.type != "cuda":
        return 1  # measured: on CPU a batch of 2 tiles is slower per tile than one at a time
    free = free_device_memory(device)
    # Rough peak per tile: the widest activations (features at input size, the upsampled
    # features at 4x) kept alive across a block, with generous head-room for the allocator.
    per_tile = window * window * (feature_width * 12 + feature_width * scale * scale * 3) * 2
    return max(1, min(64, int(0.5 * free / per_tile)))


def free_device_memory(device: Device) -> int:
    """Bytes free for our next allocations on a CUDA device: the driver's free memory plus what
    PyTorch's caching allocator holds but no tensor uses (the driver counts that as taken; we
    would get it back)."""
    import torch

    device = torch.device(str(device))
    free, _ = torch.cuda.mem_get_info(device)
    return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
