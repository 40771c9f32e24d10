"""What the engine asks of a loaded network, whichever runtime runs it (torch or OpenVINO).

The contract (engine/network.py is its torch implementation, engine/openvino_network.py its
OpenVINO one): a batch of NHWC float32 RGB windows in 0..1 goes in, the network's output comes
out the same way, ``scale`` times larger, clamped to 0..1; in a reduced precision the output
carries a verdict on whether it is broken (NaN/inf before the clamp, or all black from an input
that is not). Each network settles its precision when it loads and changes it only through
:meth:`LoadedNetwork.fall_back_to_fp32`. Nothing here imports torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from upscaler.engine.devices import Device
    from upscaler.zoo.spec import ArchSpec

# An input brighter than this anywhere cannot legitimately come out all black.
BLACK_INPUT_MAX = 0.02


class PendingResult(Protocol):
    def result(self) -> tuple[np.ndarray, bool]:
        """The output on the host, and whether it is broken (always False in fp32)."""


class LoadedNetwork(Protocol):
    name: str
    spec: ArchSpec
    scale: int
    device: Device
    runtime: str  # "torch" or "openvino": for logs and reports

    @property
    def precision(self) -> str:
        """The precision each image starts in: fp32, fp16 or bf16."""

    def fall_back_to_fp32(self) -> None:
        """A reduced-precision output came out broken: every image from now on starts in fp32."""

    def compile(self, batch: int, window: int) -> float:
        """Prepare the forward for such batches now, where the runtime compiles; seconds it took."""

    @property
    def compile_status(self) -> str:
        """For reports: what :meth:`compile` did ("off" where nothing)."""

    def run(self, batch: np.ndarray, precision: str | None = None) -> np.ndarray:
        """(B, H, W, 3) float32 in 0..1 -> (B, H*s, W*s, 3) float32 in 0..1, unchecked."""

    def submit(self, batch: np.ndarray, precision: str) -> PendingResult:
        """Start a batch in ``precision``; the result (and verdict) from the returned object."""


class HostResult:
    """A batch computed on the host: its clamped output and its verdict, ready now."""

    def __init__(self, output: np.ndarray, broken: bool) -> None:
        self._output, self._broken = output, broken

    def result(self) -> tuple[np.ndarray, bool]:
        return self._output, self._broken


def clamp_and_check(output: np.ndarray, batch: np.ndarray, reduced: bool) -> tuple[np.ndarray, bool]:
    """``output`` (float32, the network's raw output for ``batch``) clamped to 0..1 in place, and
    whether it is broken; only a reduced precision is checked. NaN/inf are looked for before the
    clamp, which would turn an overflow's inf into plain white."""
    broken = False
    if reduced:
        broken = not bool(np.isfinite(output).all())
        if not broken and batch.max() > BLACK_INPUT_MAX:
            broken = bool(output.max() <= 0)
    np.clip(output, 0, 1, out=output)
    return output, broken
