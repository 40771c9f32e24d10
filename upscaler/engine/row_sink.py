"""The one way finished output rows travel: a chain of :class:`RowSink` stages, each passing on
to the next, built once per image plane (see engine/output_image.py for the chain).

Rows arrive in order, top to bottom, each row once: ``write(top, rows)`` gets rows
``[top, top + len(rows))`` of the stage's input image, and ``close()`` says that every row has
been written, so a stage can hand on what it still holds and check that nothing is missing.
A stage may not keep ``rows`` past ``write``: the writer may reuse their memory. No stage ever
sees an image twice: a redo (engine.py) builds a fresh chain.

This module holds the two stages at the chain's end: :class:`Crop` and :class:`Store`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class RowSink(Protocol):
    def write(self, top: int, rows: Any) -> None:
        """Rows ``[top, top + len(rows))``: a NumPy array, or a tensor on the torch device for the
        stages in front of the device path's levels (engine/levels.py)."""

    def close(self) -> None:
        """Every row has been written: pass on what is held, and fail if rows are missing."""


class Crop:
    """Keeps rows ``[first, last)`` and columns ``[left, right)`` of its input (the image inside the
    seamless mode's wrap-around padding) and writes them to ``sink`` renumbered from 0."""

    def __init__(self, rows: tuple[int, int], cols: tuple[int, int], sink: RowSink) -> None:
        (self.first, self.last), (self.left, self.right) = rows, cols
        self.sink = sink

    def write(self, top: int, rows: np.ndarray) -> None:
        start, stop = max(top, self.first), min(top + rows.shape[0], self.last)
        if start < stop:
            self.sink.write(start - self.first, rows[start - top : stop - top, self.left : self.right])

    def close(self) -> None:
        self.sink.close()


class Store:
    """Writes rows into ``pixels[..., channels]`` (``channels``: an index into the last axis,
    ``Ellipsis`` for all of them); the array's own dtype is the levels' (no rounding here)."""

    def __init__(self, pixels: np.ndarray, channels: Any = Ellipsis) -> None:
        self.pixels, self.channels = pixels, channels
        self.rows_written = 0

    def write(self, top: int, rows: np.ndarray) -> None:
        if top != self.rows_written:
            raise ValueError(f"rows must arrive in order: expected row {self.rows_written}, got {top}")
        self.pixels[top : top + rows.shape[0]][self.channels] = rows
        self.rows_written += rows.shape[0]

    @property
    def complete(self) -> bool:
        return self.rows_written == self.pixels.shape[0]

    def close(self) -> None:
        if not self.complete:
            raise RuntimeError(f"{self.rows_written} of {self.pixels.shape[0]} output rows were written")
