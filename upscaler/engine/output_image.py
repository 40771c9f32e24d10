"""Where the network's finished rows go: the engine's result array, filled as rows arrive.

Rows come in order, at the network's scale, for the whole source the tiles were cut from. Two
things make that source bigger than the result:

- seamless mode pads the image with its own opposite edges (wrap-around context) and keeps the
  centre: ``box`` says which source pixels are the image;
- an ``outscale`` other than the network's scale resizes the result.

Rows outside the box are dropped as they come, and rows inside go through a
:class:`~upscaler.engine.strip_resize.StripResizer` straight into the final size, so neither the
padded output nor the output at the network's scale is ever whole next to the result. The one
exception is ``whole=True``, for the colour fix (engine/color.py), which must see the whole
output at the network's scale (in seamless mode the padded one, so that its low-pass reaches
across the seam); the crop and the resize then follow it, as one step each.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from upscaler.engine.strip_resize import StripResizer, resizable_in_strips

Place = Callable[[int, np.ndarray], None]  # (top row, finished rows) at the network's scale


class OutputImage:
    def __init__(self, source_size: tuple[int, int], scale: int, box: tuple[int, int, int, int],
                 channels: tuple[int, ...], dtype: np.dtype, outscale: float, whole: bool = False) -> None:
        """``source_size``: (height, width) of the pixels tiled; ``box``: (top, left, height, width)
        of the image inside them; ``channels``: ``()`` for gray, ``(3,)`` or ``(4,)``."""
        top, left, height, width = box
        self.scale = scale
        self.rows = (top * scale, (top + height) * scale)
        self.cols = (left * scale, (left + width) * scale)
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
        self._resizers: list[StripResizer] = []

    def placer(self, channels=Ellipsis) -> Place:
        """Where finished rows of these channels (an index into the last axis) go."""
        out = self.pixels

        def place(top: int, levels: np.ndarray) -> None:
            out[top : top + levels.shape[0]][channels] = levels

        if self.whole:
            return place
        if self.in_strips:
            (first, last), (left, right) = self.rows, self.cols
            resizer = StripResizer(last - first, right - left, *self.final, self.resample, place)
            self._resizers.append(resizer)
            # Levels may come as float or int32 (engine/device_rows.py): resampled as the output's
            # own integers, as a resize of the whole output would be.
            return self._cropping(lambda top, levels: resizer.add(top, levels.astype(out.dtype)))
        return self._cropping(place)

    def _cropping(self, sink: Place) -> Place:
        (first, last), (left, right) = self.rows, self.cols

        def place_inside(top: int, levels: np.ndarray) -> None:
            start, stop = max(top, first), min(top + levels.shape[0], last)
            if start < stop:
                sink(start - first, levels[start - top : stop - top, left:right])

        return place_inside

    def finish(self, fix: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The result, once every row has been placed; ``fix`` (only with ``whole``) runs on the
        whole output at the network's scale before it is cut and resized."""
        assert fix is None or self.whole, "the colour fix needs the whole output"
        assert all(resizer.done for resizer in self._resizers), "rows are missing"
        out = fix(self.pixels) if fix else self.pixels
        if self.whole:
            (first, last), (left, right) = self.rows, self.cols
            if (first, left, last, right) != (0, 0, *out.shape[:2]):
                out = out[first:last, left:right]
                if not self.resized:
                    out = np.ascontiguousarray(out)
        if self.resized and not self.in_strips:
            out = cv2.resize(out, self.final[::-1], interpolation=self.resample)
        return out
