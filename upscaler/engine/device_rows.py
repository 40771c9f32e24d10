"""Finished output rows, made final on the device and brought back in their 8/16-bit form.

On a GPU the tile outputs stay where they are made: RowAssembler blends them there, and each
finished strip is turned into its final layout (BGR, gray or alpha; integer levels) on the
device too, so that a quarter of the bytes cross the bus (uint8 instead of float32) and the host
does nothing per pixel but one copy into the output array. The copies are asynchronous, into
pinned buffers; a strip is placed into the output once its copy has landed. At most
``max_pending_bytes`` of strips wait at a time, so host memory stays bounded however large the
image, and the host never waits for the device except to stay under that bound or at the end.

The host path (engine.py, NumPy) makes the same final rows from the same float rows:
``final_rows_numpy`` and ``final_rows_torch`` are the two spellings of one conversion.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Literal

import cv2
import numpy as np
import torch

Kind = Literal["color", "gray", "alpha"]
# cv2's RGB -> gray coefficients (ITU-R BT.601), which it applies as such to float input.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
MAX_PENDING_BYTES = 256 * 1024 * 1024


def final_rows_numpy(rows: np.ndarray, kind: Kind, maxval: float) -> np.ndarray:
    """Float RGB rows in 0..1 (scratch: overwritten) -> BGR, gray or alpha levels as float."""
    if kind == "gray":
        values = cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY)
    elif kind == "alpha":
        values = rows.mean(axis=2)
    else:
        values = rows[:, :, ::-1]
    np.multiply(values, maxval, out=values)
    np.rint(values, out=values)
    return np.clip(values, 0, maxval, out=values)


def final_rows_torch(rows: torch.Tensor, kind: Kind, maxval: float) -> torch.Tensor:
    """The same conversion on the device, ending in integers (uint8, or int32 for 16-bit levels:
    torch has no general uint16 arithmetic; the host's assignment narrows them)."""
    if kind == "gray":  # Python scalars: a weights tensor would be a copy to the device, which waits
        r, g, b = GRAY_WEIGHTS
        values = rows[:, :, 0] * r + rows[:, :, 1] * g + rows[:, :, 2] * b
    elif kind == "alpha":
        values = rows.mean(dim=2)
    else:
        values = rows.flip(2)
    values = values.mul(maxval).round_().clamp_(0, maxval)
    return values.to(torch.uint8 if maxval <= 255 else torch.int32)


class DeviceRows:
    """``write(top, rows)`` takes float rows on the device (RowAssembler's ``write_rows``);
    ``place(top, levels)`` receives them as host integer arrays, in order; :meth:`drain` waits
    for the rest."""

    def __init__(self, kind: Kind, maxval: float, place: Callable[[int, np.ndarray], None],
                 max_pending_bytes: int = MAX_PENDING_BYTES) -> None:
        self.kind, self.maxval, self.place = kind, maxval, place
        self.max_pending_bytes = max_pending_bytes
        self._pending: deque[tuple[int, torch.Tensor, torch.cuda.Event | None]] = deque()
        self._bytes = 0

    def write(self, top: int, rows: torch.Tensor) -> None:
        levels = final_rows_torch(rows, self.kind, self.maxval)
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
            self._place_oldest()

    def drain(self) -> None:
        while self._pending:
            self._place_oldest()

    def _place_oldest(self) -> None:
        top, host, landed = self._pending.popleft()
        if landed is not None:
            landed.synchronize()
        self._bytes -= host.numel() * host.element_size()
        self.place(top, host.numpy())
