"""One image's result array and the row chains that fill it, one chain per plane.

Rows come in order, as integer levels at the network's scale, for the whole source the tiles
were cut from. Two things make that source bigger than the result:

- seamless mode pads the image with its own opposite edges (wrap-around context) and keeps the
  centre: ``box`` says which source pixels are the image;
- an ``outscale`` other than the network's scale resizes the result.

So a plane's chain (engine/row_sink.py) is::

    Crop (the box) -> StripResizer (outscale) -> Store (its channels of the result)

each stage only where it has work, and neither the padded output nor the output at the
network's scale is ever whole next to the result. The exceptions keep the whole output at the
network's scale in the Store and finish it in :meth:`OutputImage.finish`, a step each:

- ``whole=True``, for the colour fix (engine/preserve_color.py), which must see all of it (in seamless
  mode the padded one, so that its low-pass reaches across the seam): fix, crop, resize;
- an outscale whose ratio to the network's scale has no short period of rows
  (engine/strip_resize.py): cropped as it comes, resized at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from upscaler.engine.row_sink import Crop, RowSink, Store
from upscaler.engine.strip_resize import StripResizer, resizable_in_strips


class OutputImage:
    def __init__(self, source_size: tuple[int, int], scale: int, box: tuple[int, int, int, int],
                 channels: tuple[int, ...], dtype: np.dtype, outscale: float, whole: bool = False) -> None:
        """``source_size``: (height, width) of the pixels tiled; ``box``: (top, left, height, width)
        of the image inside them; ``channels``: ``()`` for gray, ``(3,)`` or ``(4,)``."""
        top, left, height, width = box
        self.rows = (top * scale, (top + height) * scale)
        self.cols = (left * scale, (left + width) * scale)
        self.cropped = box != (0, 0, *source_size)
        self.final = (max(1, round(height * outscale)), max(1, round(width * outscale)))
        self.resample = cv2.INTER_AREA if outscale < scale else cv2.INTER_LANCZOS4
        self.resized = outscale != scale
        self.whole = whole
        self.in_strips = self.resized and not whole and resizable_in_strips(height * scale, self.final[0])
        if whole:
            shape = (source_size[0] * scale, source_size[1] * scale)
        else:
            shape = self.final if self.in_strips else (height * scale, width * scale)
        self.pixels = np.empty(shape + channels, dtype=dtype)
        self._stores: list[Store] = []

    def plane(self, channels: Any = Ellipsis) -> RowSink:
        """A new chain for the rows of these channels (an index into the last axis): levels at the
        network's scale, for the whole source; close it when its last row is written."""
        store = Store(self.pixels, channels)
        self._stores.append(store)
        sink: RowSink = store
        if self.whole:
            return sink
        if self.in_strips:
            (first, last), (left, right) = self.rows, self.cols
            sink = StripResizer(last - first, right - left, *self.final, self.resample, sink)
        if self.cropped:
            sink = Crop(self.rows, self.cols, sink)
        return sink

    def finish(self, fix: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The result, once every plane's chain is closed; ``fix`` (only with ``whole``) runs on the
        whole output at the network's scale before it is cut and resized."""
        assert fix is None or self.whole, "the colour fix needs the whole output"
        assert all(store.complete for store in self._stores), "rows are missing"
        out = fix(self.pixels) if fix else self.pixels
        if self.whole and self.cropped:
            (first, last), (left, right) = self.rows, self.cols
            out = out[first:last, left:right]
            if not self.resized:
                out = np.ascontiguousarray(out)
        if self.resized and not self.in_strips:
            out = cv2.resize(out, self.final[::-1], interpolation=self.resample)
        return out
