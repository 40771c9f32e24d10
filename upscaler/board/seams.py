"""Minimum-error cuts between two overlapping copies of an image (graph-cut textures).

A *band* is where two sources overlap: ``a`` continues the content on one side, ``b`` the content
on the other. Each pixel of the band takes one of them; the cut between the two labels is chosen
so that the sum of the mismatches it crosses is smallest (Kwatra et al., "Graphcut Textures",
SIGGRAPH 2003: an edge between neighbours p and q costs |a(p) - b(p)| + |a(q) - b(q)|). It is a
cut, never a blend: every output pixel is a pixel of the image, so no texture is washed out.

Band arrays are ``(length, width)``: axis 0 runs along the seam, axis 1 across it, from the
``a`` side (column 0, always ``a``) to the ``b`` side (last column, always ``b``). A cyclic band
closes on itself along axis 0 (the second seam of a tile runs all the way round the torus), and
its cut is then a closed curve. PyMaxflow (Boykov-Kolmogorov max-flow) solves each cut; a band
of more than ``max_nodes`` pixels is solved window by window along its length (each window fixed
to the rows decided before it and looking ahead as far again), so memory stays bounded.
"""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

# Pixels per graph: about 60 MB of PyMaxflow's nodes and arcs. A 1024 px image's bands (128 x
# 1024) fit in one graph; a 4096 px image's are solved in windows.
MAX_GRAPH_NODES = 2**18
# Added to every edge: between cuts of (almost) equal mismatch, the shorter one.
EDGE_FLOOR = 1e-4
GRADIENT_WEIGHT = 1.0  # of the copies' slope difference (each axis) in the mismatch
DETAIL_SIGMA = 2.0    # px: the high-pass of ``detail_loss`` is the copy less this blur
DETAIL_WEIGHT = 0.2   # what a pixel of lost texture costs, against a pixel pair of mismatch crossed
_FIXED = 1e9  # terminal capacity that ties a pixel to its source: never cut
_ALONG = np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]])   # edge to the next pixel along axis 0
_ACROSS = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]])  # edge to the next pixel along axis 1


def mismatch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel |a - b| summed over channels, float64, for two same-shape uint8/uint16 (or float
    0..1) arrays, in units of the full scale (0 = identical)."""
    scale = 1.0 / np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 1.0
    delta = a.astype(np.float32) - b.astype(np.float32)
    diff = np.abs(delta)
    if GRADIENT_WEIGHT:
        # The copies' slopes too: a cut where the colours agree but the slopes do not makes a
        # kink, which a normal map (the slope of a height made from the colour) shows as a line.
        for axis in (0, 1):
            slope = np.abs(np.gradient(delta, axis=axis))
            diff += GRADIENT_WEIGHT * slope
    if diff.ndim == 3:
        diff = diff.sum(axis=2)
    return diff.astype(np.float64) * scale


def detail_loss(a: np.ndarray, b: np.ndarray, sigma: float) -> np.ndarray:
    """Per pixel of a band, how much finer texture it shows with ``a`` than with ``b``, float64 in
    the units of ``mismatch`` (negative: ``b`` is the finer): the local mean (Gaussian of
    ``sigma`` px) of each copy's high-pass magnitude (the copy less its blur of DETAIL_SIGMA px,
    summed over channels), a's less b's, times DETAIL_WEIGHT.

    Without it a cut goes round anything one copy has and the other lacks (a crack, a knot, a
    stain reaching the band): removing it costs nothing, crossing it costs its contrast. With
    it, dropping such a feature costs what it shows, so the cut crosses it where that is cheaper,
    and keeps it; where both copies are alike in texture (most of a texture) it adds nothing."""
    def energy(x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float32)
        blur = cv2.GaussianBlur(x, (0, 0), DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT).reshape(x.shape)
        high = np.abs(x - blur)
        high = high.reshape(*high.shape[:2], -1).sum(axis=2)   # OpenCV drops a single channel's axis
        return cv2.GaussianBlur(high, (0, 0), max(0.5, sigma), borderType=cv2.BORDER_REFLECT)

    scale = 1.0 / np.iinfo(a.dtype).max if np.issubdtype(a.dtype, np.integer) else 1.0
    return (energy(a) - energy(b)).astype(np.float64) * (scale * DETAIL_WEIGHT)


def cut_labels(cost: np.ndarray, cyclic: bool = False, max_nodes: int = MAX_GRAPH_NODES,
               keep: np.ndarray | None = None) -> np.ndarray:
    """Boolean ``(length, width)``: True where the band takes ``b``, for the cut of least total
    mismatch. ``cost``: per-pixel mismatch (``mismatch(a, b)``), width at least 2. ``keep``
    (same shape, optional): what each pixel loses by taking ``b`` rather than ``a`` (negative:
    by taking ``a``), added to the cut's cost (``detail_loss``)."""
    length, width = cost.shape
    if width < 2:
        raise ValueError(f"a band must be at least 2 pixels wide, not {width}")
    if keep is None:
        keep = np.zeros(cost.shape)
    if length * width <= max_nodes:
        return _solve(cost, keep, cyclic=cyclic)
    step = max(8, max_nodes // (2 * width))   # rows decided per window; as many again looked ahead
    labels = np.zeros(cost.shape, bool)
    for start in range(0, length, step):
        stop = min(length, start + 2 * step)
        last = stop >= length
        rows = cost[start:stop]
        before = (cost[start - 1], labels[start - 1]) if start else None
        # A closed band's last window meets its first rows again, decided by then.
        after = (cost[0], labels[0]) if cyclic and last else None
        window = _solve(rows, keep[start:stop], before=before, after=after)
        decided = stop - start if last else min(step, stop - start)
        labels[start:start + decided] = window[:decided]
        if last:
            break
    return labels


def _solve(cost: np.ndarray, keep: np.ndarray, cyclic: bool = False,
           before: tuple[np.ndarray, np.ndarray] | None = None,
           after: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One graph: the band's pixels, plus fixed rows (cost, labels) just before/after it."""
    rows = [cost]
    fixed_rows: list[tuple[int, np.ndarray]] = []
    if before is not None:
        rows.insert(0, before[0][None])
        fixed_rows.append((0, before[1]))
    if after is not None:
        rows.append(after[0][None])
        fixed_rows.append((sum(len(r) for r in rows) - 1, after[1]))
    full = np.concatenate(rows) if len(rows) > 1 else cost
    graph = maxflow.Graph[float]()
    ids = graph.add_grid_nodes(full.shape)
    along = full + np.roll(full, -1, axis=0) + EDGE_FLOOR
    across = full + np.roll(full, -1, axis=1) + EDGE_FLOOR
    graph.add_grid_edges(ids, weights=along, structure=_ALONG, symmetric=True, periodic=[cyclic, False])
    graph.add_grid_edges(ids, weights=across, structure=_ACROSS, symmetric=True, periodic=False)
    # A pixel left on b's side cuts its link to a (to_a): what taking b loses; and the reverse.
    start = 1 if before is not None else 0
    to_a = np.zeros(full.shape)
    to_b = np.zeros(full.shape)
    to_a[start:start + len(cost)] = np.maximum(keep, 0)
    to_b[start:start + len(cost)] = np.maximum(-keep, 0)
    to_a[:, 0] = _FIXED
    to_b[:, -1] = _FIXED
    for index, labels in fixed_rows:
        to_a[index] = np.where(labels, 0, _FIXED)
        to_b[index] = np.where(labels, _FIXED, 0)
    graph.add_grid_tedges(ids, to_a, to_b)
    graph.maxflow()
    segments = graph.get_grid_segments(ids)   # True: on the sink's side, i.e. b
    return segments[start:start + len(cost)]


def cut_cost(cost: np.ndarray, labels: np.ndarray, cyclic: bool = False) -> float:
    """Mean mismatch across the cut (per pixel pair that the cut separates; 0 when nothing is
    cut): how visible the seam can be, in units of the full scale summed over channels."""
    pairs = []
    across = labels[:, 1:] != labels[:, :-1]
    pairs.append((cost[:, 1:] + cost[:, :-1])[across])
    nxt = np.roll(labels, -1, axis=0) if cyclic else labels[1:]
    here = labels if cyclic else labels[:-1]
    nxt_cost = np.roll(cost, -1, axis=0) if cyclic else cost[1:]
    here_cost = cost if cyclic else cost[:-1]
    pairs.append((here_cost + nxt_cost)[here != nxt])
    values = np.concatenate(pairs)
    return float(values.mean() / 2) if values.size else 0.0
