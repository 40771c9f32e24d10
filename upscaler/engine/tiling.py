"""Where the tiles go and how their outputs are blended back into one image.

Along each axis the image is cut into ``n = ceil(length / tile)`` equal cores; every window is
its core plus ``pad`` pixels of context on each side, all windows of one image the same size
(so they can be stacked into a batch), shifted inwards at the borders. Neighbouring windows
overlap by at least ``2 * pad``; in the overlap their outputs are cross-faded with linear
ramps, each pixel weighted by how much context it had. The weights are normalised per axis so
they sum to one everywhere: the 2-D weight of a tile is the product of its two 1-D weights.

:class:`RowAssembler` receives tile outputs in any order and writes finished output rows to the
head of the image's row chain (engine/row_sink.py) as soon as no later window can touch them, so
the float accumulator holds only a few window rows while the full-size output is kept in its
final 8/16-bit form. It works on NumPy arrays on the host or, given a torch device, on tensors
there (CUDA: the blending stays on the GPU and only finished 8/16-bit rows come back, see
engine/levels.py).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np

from upscaler.engine.row_sink import RowSink

if TYPE_CHECKING:  # the device path only: the host path (a CPU run on OpenVINO too) never imports torch
    import torch

# Fraction of an overlap, at each end, that gets (almost) no weight: output pixels that close
# to a window's edge saw too little context to be trusted.
BLEND_MARGIN = 0.25


@dataclass(frozen=True)
class AxisPlan:
    length: int
    window: int
    starts: tuple[int, ...]

    def output_weights(self, scale: int) -> list[np.ndarray]:
        """Per window, its normalised blend weight for each output pixel it covers."""
        size = self.window * scale
        distance = np.arange(size, dtype=np.float32) + 0.5  # from this window's first edge

        def ramp(overlap: int) -> np.ndarray:
            # 0 over the outer MARGIN of the overlap (too little context), then linear up to 1.
            margin = overlap * scale * BLEND_MARGIN
            return np.clip((distance - margin) / (overlap * scale - 2 * margin), 1e-6, 1)

        raw = []
        for i, start in enumerate(self.starts):
            w = np.ones(size, dtype=np.float32)
            if i > 0:  # fade in over the overlap with the previous window
                w = np.minimum(w, ramp(self.starts[i - 1] + self.window - start))
            if i < len(self.starts) - 1:  # fade out over the overlap with the next window
                w = np.minimum(w, ramp(start + self.window - self.starts[i + 1])[::-1])
            raw.append(w)
        total = np.zeros(self.length * scale, dtype=np.float32)
        for start, w in zip(self.starts, raw):
            total[start * scale : start * scale + size] += w
        return [w / total[s * scale : s * scale + size] for s, w in zip(self.starts, raw)]


def plan_axis(length: int, tile: int, pad: int, margin: int = 0) -> AxisPlan:
    """Windows along one axis of ``length`` image pixels. ``margin``: pixels of wrap-around context
    the source has on each side of the image (seamless mode; the plan then spans ``length + 2 *
    margin``): the cores cut only the image, and a window reaches ``pad`` pixels past its core into
    the margin at the image's edges just as into its neighbours between tiles, so that each seam,
    the wrap-around one included, gets the same context and the padding costs no cores of its own."""
    total = length + 2 * margin
    if tile <= 0 or length <= tile:
        return AxisPlan(total, total, (0,))
    count = math.ceil(length / tile)
    core_starts = [margin + round(i * length / count) for i in range(count)]
    window = max(margin + round((i + 1) * length / count) - s for i, s in enumerate(core_starts)) + 2 * pad
    if window >= total:  # the context alone covers the image: one window is exact and cheaper
        return AxisPlan(total, total, (0,))
    starts = tuple(min(max(s - pad, 0), total - window) for s in core_starts)
    return AxisPlan(total, window, starts)


@dataclass(frozen=True)
class Tile:
    row: int
    col: int
    y: int
    x: int


@dataclass(frozen=True)
class TilePlan:
    rows: AxisPlan
    cols: AxisPlan

    @classmethod
    def for_image(cls, height: int, width: int, tile: int, pad: int, margin: int = 0) -> "TilePlan":
        """``height`` x ``width``: the image; ``margin``: its wrap-around padding in the source
        (see :func:`plan_axis`), the plan then covers the padded source."""
        return cls(plan_axis(height, tile, pad, margin), plan_axis(width, tile, pad, margin))

    @property
    def count(self) -> int:
        return len(self.rows.starts) * len(self.cols.starts)

    def tiles(self) -> Iterator[Tile]:
        for r, y in enumerate(self.rows.starts):
            for c, x in enumerate(self.cols.starts):
                yield Tile(r, c, y, x)


class RowAssembler:
    """Accumulates weighted tile outputs; writes finished output rows to ``sink``.

    ``sink.write(top, rows)`` gets float32 RGB rows ``[top, top + len(rows))`` of the full output,
    each row final, at most ``strip`` rows at a time (the sink may overwrite them). Tiles may
    arrive in any order. The output rows are accumulated in chunks cut at every window's top and
    bottom: a chunk is final, and is handed on and dropped, once every window row that starts at or
    above its top is complete (no later window reaches above its own top), and a chunk is made
    only when a window first reaches it. A tile adds its weighted output straight into the chunks
    it covers. Memory, tiles arriving in order: the chunks under the window row being filled,
    one window's height of float rows across the output (for a 32000 px wide output and the
    default 224 px window ~340 MB), however many window rows overlap there (five, in seamless mode
    with small tiles); never a copy of the output.
    """

    def __init__(self, plan: TilePlan, scale: int, channels: int, sink: RowSink, strip: int = 64,
                 device: torch.device | None = None) -> None:
        """``device``: None for NumPy arrays on the host; else tile outputs are tensors on it and
        ``sink`` gets tensors there. The assembler never closes ``sink``: its caller does, once
        :attr:`done`."""
        self.plan, self.scale, self.channels, self.sink = plan, scale, channels, sink
        self.strip = strip
        self.row_weights = plan.rows.output_weights(scale)
        self.col_weights = plan.cols.output_weights(scale)
        if device is None:
            self._zeros = lambda shape: np.zeros(shape, np.float32)
        else:
            import torch

            self._zeros = lambda shape: torch.zeros(shape, dtype=torch.float32, device=device)
            self.row_weights = [_to_device(w, device) for w in self.row_weights]
            self.col_weights = [_to_device(w, device) for w in self.col_weights]
        rows, s = plan.rows, scale
        cuts = sorted({*rows.starts, *(y + rows.window for y in rows.starts if y + rows.window < rows.length)})
        self.chunk_tops = [y * s for y in cuts]
        self.chunk_bottoms = self.chunk_tops[1:] + [rows.length * s]
        self.chunks: dict[int, np.ndarray] = {}  # chunk index -> its float rows, once a window reached it
        self.missing = {r: len(plan.cols.starts) for r in range(len(rows.starts))}
        self.next_row = 0  # first window row not yet flushed

    def add(self, tile: Tile, output: np.ndarray) -> None:
        """``output``: HxWxC float32, the network's output for ``tile``'s window (on the device, if any)."""
        s = self.scale
        top, x0 = tile.y * s, tile.x * s
        bottom, x1 = top + output.shape[0], x0 + output.shape[1]
        row_weights, col_weights = self.row_weights[tile.row], self.col_weights[tile.col][None, :, None]
        k = bisect.bisect_left(self.chunk_tops, top)  # every window's top is a cut
        while k < len(self.chunk_tops) and self.chunk_tops[k] < bottom:
            lo, hi = self.chunk_tops[k], min(bottom, self.chunk_bottoms[k])
            chunk = self.chunks.get(k)
            if chunk is None:
                chunk = self.chunks[k] = self._zeros((self.chunk_bottoms[k] - lo, self.plan.cols.length * s,
                                                      self.channels))
            weighted = output[lo - top : hi - top] * row_weights[lo - top : hi - top, None, None]
            weighted *= col_weights
            chunk[: hi - lo, x0:x1] += weighted
            k += 1
        self.missing[tile.row] -= 1
        while self.next_row in self.missing and self.missing[self.next_row] == 0:
            self._flush(self.next_row)
            self.next_row += 1

    def _flush(self, row: int) -> None:
        """Window rows ``0..row`` are complete: the chunks above the next window row's top are final;
        hand them on in strips and drop them."""
        starts = self.plan.rows.starts
        end = starts[row + 1] * self.scale if row + 1 < len(starts) else self.chunk_bottoms[-1]
        for k in range(bisect.bisect_left(self.chunk_tops, starts[row] * self.scale), len(self.chunk_tops)):
            if self.chunk_tops[k] >= end:
                break
            chunk = self.chunks.pop(k, None)
            if chunk is None:  # reached by no window: cannot happen while windows cover the image
                raise RuntimeError(f"output rows {self.chunk_tops[k]}..{self.chunk_bottoms[k]} got no tile")
            for first in range(0, chunk.shape[0], self.strip):
                self.sink.write(self.chunk_tops[k] + first, chunk[first : first + self.strip])

    @property
    def done(self) -> bool:
        return self.next_row == len(self.plan.rows.starts)


def _to_device(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """A host array on the device without waiting: a plain copy from pageable memory would wait for
    all the work queued on the GPU (the previous image's tiles) before it returns."""
    import torch

    tensor = torch.from_numpy(array)
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)
