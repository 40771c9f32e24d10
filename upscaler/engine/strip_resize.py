"""Resampling the network's output to another scale strip by strip, as its rows are finished.

An ``outscale`` other than the network's own scale used to resize the finished output: one more
array next to it at the network's scale (for outscale 2 on a x4 model, 4x the pixels of the
output itself). Here the rows at the network's scale go through a :class:`StripResizer`, a stage
of the row chain (engine/row_sink.py), as the tile assembler finishes them, straight into the
final array, so only a few of them are held.

The result is what one ``cv2.resize`` of the whole image gives. OpenCV maps output row ``j`` to
source position ``(j + 0.5) * H / Hd - 0.5``; with ``H / Hd = p / q`` in lowest terms, a block
that starts and ends on a multiple of ``p`` source rows (``q`` output rows) sees the same
positions and weights as the whole image does. Each block is resized with a halo of whole
periods around it that covers the kernel's reach (Lanczos-4: 4 source rows; area averaging stays
within its own period), and the halo's output rows are dropped; at the image's top and bottom
the block's edge is the image's, so OpenCV's border handling is the same too. Sizes whose ratio
has no small terms (a period of hundreds of rows) are resized whole, as before.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from upscaler.engine.row_sink import RowSink

MAX_PERIOD_ROWS = 256   # source rows per period beyond which the whole image is resized at once
KERNEL_REACH_ROWS = 4   # Lanczos-4 reads 4 source rows on either side of a position
BLOCK_MIN_ROWS = 64     # source rows resized at a time, at least (fewer, larger cv2 calls)


def resizable_in_strips(src_height: int, dst_height: int) -> bool:
    return Fraction(src_height, dst_height).numerator <= MAX_PERIOD_ROWS


class StripResizer:
    """A row sink: takes the rows of a ``src_height`` x ``src_width`` image in order and writes the
    rows of its resize to ``dst_height`` x ``dst_width`` to ``sink`` as soon as the source rows they
    depend on have arrived. Rows are resampled as the integers they come as: give the output's."""

    def __init__(self, src_height: int, src_width: int, dst_height: int, dst_width: int, interpolation: int,
                 sink: RowSink) -> None:
        if not resizable_in_strips(src_height, dst_height):
            raise ValueError(f"{src_height} -> {dst_height} rows: the ratio's period is too long for strips")
        ratio = Fraction(src_height, dst_height)
        self.p, self.q = ratio.numerator, ratio.denominator  # source rows : output rows per period
        self.periods = src_height // self.p
        self.halo = -(-KERNEL_REACH_ROWS // self.p)        # whole periods covering the kernel's reach
        self.block = max(1, BLOCK_MIN_ROWS // self.p)      # periods written per resize call
        self.src_height, self.dst_width = src_height, dst_width
        self.interpolation, self.sink = interpolation, sink
        self._held: np.ndarray | None = None  # source rows from period self._held_from on
        self._held_from = 0
        self._received = 0                    # source rows received so far
        self._written = 0                     # periods written so far

    @property
    def done(self) -> bool:
        return self._written == self.periods

    def write(self, top: int, rows: np.ndarray) -> None:
        if top != self._received:
            raise ValueError(f"rows must arrive in order: expected row {self._received}, got {top}")
        # A copy either way: the caller may reuse its rows' memory once this returns.
        self._held = rows.copy() if self._held is None else np.concatenate([self._held, rows])
        self._received += rows.shape[0]
        while self._write_next_block():
            pass

    def close(self) -> None:
        if not self.done:
            raise RuntimeError(f"{self._received} of {self.src_height} source rows arrived")
        self.sink.close()

    def _write_next_block(self) -> bool:
        first = self._written
        if first >= self.periods:
            return False
        last = min(first + self.block, self.periods)           # periods [first, last) are written
        reach_end = min(last + self.halo, self.periods)
        if reach_end * self.p > self._received:
            return False                                        # rows below are still to come
        reach_start = max(first - self.halo, 0)
        held_start = (reach_start - self._held_from) * self.p
        source = self._held[held_start : held_start + (reach_end - reach_start) * self.p]
        resized = cv2.resize(source, (self.dst_width, (reach_end - reach_start) * self.q),
                             interpolation=self.interpolation)
        keep_from = (first - reach_start) * self.q
        self.sink.write(first * self.q, resized[keep_from : keep_from + (last - first) * self.q])
        self._written = last
        # Keep only what the next block's halo reaches back to.
        drop = max(0, last - self.halo) - self._held_from
        if drop > 0:
            self._held = self._held[drop * self.p :]
            self._held_from += drop
        return True


def resize_in_strips(source: np.ndarray, dst_height: int, dst_width: int, interpolation: int,
                     sink: RowSink, rows: int = BLOCK_MIN_ROWS) -> None:
    """``source`` resized, written to ``sink`` a strip of rows at a time (the same levels as one
    ``cv2.resize``), then ``sink`` closed: for a plane that is enlarged whole otherwise, such as a
    bicubic alpha channel. ``rows``: source rows handed over at a time."""
    resizer = StripResizer(source.shape[0], source.shape[1], dst_height, dst_width, interpolation, sink)
    for top in range(0, source.shape[0], rows):
        resizer.write(top, source[top : top + rows])
    resizer.close()
