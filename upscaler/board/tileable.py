"""Turning a photo into a tile: its own content, overlapped with itself and cut where it matches.

Along each axis the tile is ``length`` px of the image, starting at ``start``, plus ``overlap``
px more that wrap round onto the tile's first ``overlap`` px: there two copies of the image
overlap, one continuing the tile's far edge (``a``: what lies past it in the photo) and one
continuing into the tile (``b``: the photo's own pixels there). A minimum-error cut
(``seams.py``) decides which copy each pixel of that band shows, so every pair of neighbours in
the tiled result is either a pair of neighbours in the photo or a pair the cut chose because the
two copies agree there. The photo's own edges never meet.

The columns are cut first, over the full height (a plain 1-D seam from top to bottom); then the
rows, on the result, with a seam that closes round the already horizontal-tileable strip. Where
the two seams cross, the four copies meet along those two cuts. Before cutting, the photo's
light ramp is divided out (``lighting.py``); after each cut, what mismatch is left across it is
spread smoothly away in the gradient domain (``fusion.py``).

The result is rolled so that the cut bands straddle the tile's edges (by between a quarter and
three quarters of the overlap, where the tile's edge rows and columns differ least): the output
is the photo's ``start + origin ... start + origin + length`` on each axis, its pixels unchanged
except in the bands round its border (and by the light correction).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from upscaler.board.fusion import fuse_strip
from upscaler.board.lighting import ramp_field, wrap_field
from upscaler.board.seams import MAX_GRAPH_NODES, cut_cost, cut_labels, detail_loss, mismatch
from upscaler.materials.maps import apply_gain

OVERLAP_FRACTION = 1 / 8   # of each side: the plain tile loses this much of the photo, half per edge
MIN_OVERLAP = 4            # px: narrower bands leave a cut no room to go round anything
MIN_TILE = 16              # px: the smallest tile side worth cutting
MIN_SIDE = MIN_TILE + MIN_OVERLAP * 2   # px: smaller images are returned as they are


@dataclass(frozen=True)
class AxisLayout:
    """Where a tile lies on one axis of the image, in px."""

    start: int
    length: int    # the tile's side
    overlap: int   # px past the tile that wrap round onto its first ``overlap`` px

    @classmethod
    def plain(cls, size: int, fraction: float = OVERLAP_FRACTION) -> AxisLayout:
        """The whole side: a tile ``size - overlap`` long, the overlap a ``fraction`` of it."""
        overlap = max(MIN_OVERLAP, round(size * fraction))
        return cls(0, size - overlap, overlap)

    @classmethod
    def repeats(cls, size: int, period: float, smallest: bool) -> tuple[AxisLayout, int] | None:
        """Whole repeats of ``period`` px: the fewest that make a tile of at least MIN_TILE px
        (``smallest``), else as many as fit with room for the overlap; centred in the side. The
        overlap is OVERLAP_FRACTION of the tile (the copies it joins are whole periods apart, so
        they agree: little room is needed), at least MIN_OVERLAP, at most half the tile. None
        when not even one repeat fits. Also returns the count."""
        count = max(1, math.ceil(MIN_TILE / period)) if smallest else math.floor((size - MIN_OVERLAP) / period)
        while count >= 1:
            length = round(count * period)
            overlap = min(size - length, max(MIN_OVERLAP, round(length * OVERLAP_FRACTION)), length // 2)
            if length >= MIN_TILE and overlap >= MIN_OVERLAP:
                return cls((size - length - overlap) // 2, length, overlap), count
            count -= 1
        return None

    @property
    def end(self) -> int:
        return self.start + self.length + self.overlap

    def kept(self, origin: int | None = None) -> tuple[int, int]:
        """(first px, px count) of the image the output shows, once rolled so that the tile's
        ``origin`` (``TileResult.origin``; default: the middle of the band) comes first."""
        return self.start + (self.overlap // 2 if origin is None else origin), self.length


@dataclass(frozen=True)
class TileResult:
    pixels: np.ndarray
    seam_cost: float          # mean mismatch the cuts cross (0..channels, full scale)
    light_correction: float   # largest change of brightness (fraction, e.g. 0.08 = 8%) the field made
    # With ``trace``: for every output pixel, the row and column of the image it came from.
    source_rows: np.ndarray | None = None
    source_cols: np.ndarray | None = None
    # The row and column of the cut tile (before the roll) that became the output's first: the
    # output shows the image from ``layout.start + origin`` on (``AxisLayout.kept``).
    origin: tuple[int, int] = (0, 0)


def make_tile(pixels: np.ndarray, rows: AxisLayout, cols: AxisLayout, max_nodes: int = MAX_GRAPH_NODES,
              trace: bool = False) -> TileResult:
    """A tile ``rows.length`` x ``cols.length`` from ``pixels`` (OpenCV layout, uint8/uint16, not
    modified); see the module docstring. Each layout must fit in the image, with an overlap of at
    least 2 px and at most half its tile. ``trace``: also say where each pixel came from (two
    int32 planes of the output's size, for measuring the cuts)."""
    for layout, size, name in ((rows, pixels.shape[0], "rows"), (cols, pixels.shape[1], "columns")):
        if layout.start < 0 or layout.end > size or not 2 <= 2 * layout.overlap <= layout.length:
            raise ValueError(f"{name} {layout} do not fit an image of {size} px")
    region = pixels[rows.start:rows.end, cols.start:cols.end]
    gain = ramp_field(region, (rows.length, cols.length))
    work = apply_gain(region, gain) if gain is not None else region.copy()
    correction = float(np.abs(gain.small - 1).max()) if gain is not None else 0.0
    planes = [work if work.ndim == 3 else work[:, :, None]]
    sources = [a.astype(np.int32)[:, :, None] for a in np.mgrid[rows.start:rows.end, cols.start:cols.end]] \
        if trace else []

    # Columns first, over every row: the band runs down the image (axis 0), the cut crosses it.
    costs = [_seam([*planes, *sources], cols.length, cols.overlap, False, max_nodes)]
    # Then rows, over the tile's columns only (which now wrap round): transposed views, so that
    # the band runs along axis 0 again.
    tile_columns = [p[:, :cols.length].transpose(1, 0, 2) for p in (*planes, *sources)]
    costs.append(_seam(tile_columns, rows.length, rows.overlap, True, max_nodes))
    tile = work[:rows.length, :cols.length]
    origin = (_quietest_edge(tile, rows.overlap, axis=0), _quietest_edge(tile, cols.overlap, axis=1))
    shift = (-origin[0], -origin[1])
    out = np.roll(tile, shift, axis=(0, 1))
    # What brightness step is left across the wrap, spread over the tile (lighting.py).
    wrap_gain = wrap_field(out)
    if wrap_gain is not None:
        out = apply_gain(out, wrap_gain)
        correction = max(correction, float(np.abs(wrap_gain.small - 1).max()))
    traced = [np.roll(p[:rows.length, :cols.length, 0], shift, axis=(0, 1)) for p in sources] or [None, None]
    return TileResult(out, float(np.mean(costs)), correction, *traced, origin=origin)


def _quietest_edge(tile: np.ndarray, overlap: int, axis: int) -> int:
    """Where the tile's first row (``axis`` 0) or column (1) goes: of the middle half of the cut
    band, the line whose pixels differ least from the line before it. Any roll of a tile tiles
    alike; this one puts the file's own edges where the tile is quietest, so that what does not
    wrap round (a renderer clamping at the edge, a mip level filtered without wrap, a person
    looking at the file) finds no line there."""
    first, last = max(1, overlap // 4), max(1, (3 * overlap) // 4)
    lines = np.arange(first, last + 1)
    take = lambda index: np.take(tile, index, axis=axis).astype(np.float32)  # noqa: E731
    steps = [float(np.abs(take(i) - take(i - 1)).mean()) for i in lines]
    return int(lines[int(np.argmin(steps))])


def _seam(views: list[np.ndarray], length: int, overlap: int, cyclic: bool, max_nodes: int) -> float:
    """Make band ``[0, overlap)`` (axis 1) of ``views[0]`` (``(along, across, C)``, a view into
    the image, changed in place) show the copy ``[length, length + overlap)`` on the near side of
    a minimum-error cut, and fuse the cut (``fusion.py``). Further views (the trace) get the
    same labels. Returns the mean mismatch the cut crosses."""
    image = views[0]
    a, b = image[:, length:length + overlap], image[:, :overlap]
    cost = mismatch(a, b)
    keep = detail_loss(a, b, sigma=max(1.0, overlap / 8))
    take_b = cut_labels(cost, cyclic=cyclic, max_nodes=max_nodes, keep=keep)
    color = 3 if image.shape[2] == 4 else image.shape[2]
    margin = max(1, overlap // 2)
    if color < image.shape[2]:   # alpha: cut, not fused
        b[:, :, color:] = np.where(take_b[:, :, None], b[:, :, color:], a[:, :, color:])
    # One channel at a time: the fusion's float strips (several times a band) are the peak memory.
    for c in range(color):
        as_float = lambda x: x[:, :, c:c + 1].astype(np.float32)  # noqa: E731
        fused = fuse_strip(as_float(a), as_float(b), take_b, as_float(image[:, length - margin:length]),
                           as_float(image[:, overlap:overlap + margin]), cyclic)
        np.rint(np.clip(fused, 0, np.iinfo(image.dtype).max, out=fused), out=fused)
        image[:, length - margin:length, c:c + 1] = fused[:, :margin]
        image[:, :overlap + margin, c:c + 1] = fused[:, margin:]
    for plane in views[1:]:
        near = plane[:, :overlap]
        near[~take_b] = plane[:, length:length + overlap][~take_b]
    return cut_cost(cost, take_b, cyclic)
