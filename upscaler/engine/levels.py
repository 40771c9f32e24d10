"""The chain's first stage: float RGB rows from the tile assembler become the output's integer
levels (BGR, gray or alpha; uint8 or uint16), the dtype of the result array.

Two spellings of one conversion, :func:`final_levels_numpy` and :func:`final_levels_torch`, and a
stage for each path:

- :class:`HostLevels`: rows blended on the host (NumPy) are converted where they are.
- :class:`DeviceLevels`: on a GPU the tile outputs stay where they are made: RowAssembler blends
  them there and each finished strip is converted there too, so that a quarter of the bytes cross
  the bus (uint8 instead of float32) and the host does nothing per pixel but copies. The copies
  are asynchronous, into pinned buffers; a strip goes on down the chain once its copy has landed.
  At most ``max_pending_bytes`` of strips wait at a time, so host memory stays bounded however
  large the image, and the host never waits for the device except to stay under that bound or
  at :meth:`DeviceLevels.close`.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from upscaler.engine.row_sink import RowSink

if TYPE_CHECKING:  # the device path only: HostLevels never needs torch
    import torch

Kind = Literal["color", "gray", "alpha"]
# cv2's RGB -> gray coefficients (ITU-R BT.601), which it applies as such to float input.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
MAX_PENDING_BYTES = 256 * 1024 * 1024


def final_levels_numpy(rows: np.ndarray, kind: Kind, maxval: float) -> np.ndarray:
    """Float RGB rows in 0..1 (scratch: overwritten) -> BGR, gray or alpha levels, rounded, as float."""
    if kind == "gray":
        values = cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY)
    elif kind == "alpha":
        values = rows.mean(axis=2)
    else:
        values = rows[:, :, ::-1]
    np.multiply(values, maxval, out=values)
    np.rint(values, out=values)
    return np.clip(values, 0, maxval, out=values)


def final_levels_torch(rows: torch.Tensor, kind: Kind, maxval: float) -> torch.Tensor:
    """The same conversion on the device, ending in integers (uint8, or int32 for 16-bit levels:
    torch has no general uint16 arithmetic; the host narrows them)."""
    import torch

    if kind == "gray":  # Python scalars: a weights tensor would be a copy to the device, which waits
        r, g, b = GRAY_WEIGHTS
        values = rows[:, :, 0] * r + rows[:, :, 1] * g + rows[:, :, 2] * b
    elif kind == "alpha":
        values = rows.mean(dim=2)
    else:
        values = rows.flip(2)
    values = values.mul(maxval).round_().clamp_(0, maxval)
    return values.to(torch.uint8 if maxval <= 255 else torch.int32)


class HostLevels:
    """Float RGB rows on the host (scratch: overwritten) -> ``dtype`` levels, to ``sink``."""

    def __init__(self, kind: Kind, dtype: np.dtype, sink: RowSink) -> None:
        self.kind, self.dtype, self.sink = kind, np.dtype(dtype), sink
        self.maxval = float(np.iinfo(self.dtype).max)

    def write(self, top: int, rows: np.ndarray) -> None:
        self.sink.write(top, final_levels_numpy(rows, self.kind, self.maxval).astype(self.dtype))

    def close(self) -> None:
        self.sink.close()


class DeviceLevels:
    """Float RGB rows on the torch device -> ``dtype`` levels on the host, to ``sink`` in order;
    :meth:`close` waits for the rows still on their way."""

    def __init__(self, kind: Kind, dtype: np.dtype, sink: RowSink,
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.kind, self.dtype, self.sink = kind, np.dtype(dtype), sink
        self.maxval = float(np.iinfo(self.dtype).max)
        self.max_pending_bytes = max_pending_bytes
        self._pending: deque[tuple[int, torch.Tensor, torch.cuda.Event | None]] = deque()
        self._bytes = 0

    def write(self, top: int, rows: torch.Tensor) -> None:
        import torch

        levels = final_levels_torch(rows, self.kind, self.maxval)
        cuda = levels.device.type == "cuda"
        host = torch.empty(levels.shape, dtype=levels.dtype, pin_memory=cuda)
        host.copy_(levels, non_blocking=cuda)
        landed = None
        if cuda:
            landed = torch.cuda.Event()
            landed.record()
        self._pending.append((top, host, landed))
        self._bytes += host.numel() * host.element_size()
        while self._bytes > self.max_pending_bytes and len(self._pending) > 1:
            self._pass_oldest_on()

    def close(self) -> None:
        while self._pending:
            self._pass_oldest_on()
        self.sink.close()

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def _pass_oldest_on(self) -> None:
        top, host, landed = self._pending.popleft()
        if landed is not None:
            landed.synchronize()
        self._bytes -= host.numel() * host.element_size()
        self.sink.write(top, host.numpy().astype(self.dtype, copy=False))
