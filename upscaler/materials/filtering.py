"""Low-level filtering of float32 planes with wrap-around or mirrored borders, in bounded memory.

OpenCV's linear filters (GaussianBlur, Sobel, sepFilter2D) refuse ``BORDER_WRAP``, which a
tileable texture needs, and padding a whole 4096x4096 plane would hold a second full-size copy.
So small kernels run on strips of rows that carry their own halo (gathered with wrap-around or
mirrored indices), and large blurs run on a small area-averaged copy that is brought back to full
size strip by strip (``cv2.resize`` on the covering small rows with a wrapped margin, or
``warpAffine``, which supports ``BORDER_WRAP``, when the factor is not an integer). Every kernel is odd-sized and centred, and
the resampling maps pixel centres onto pixel centres, so nothing moves relative to the input.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

# Pixels per strip (1 MiB of float32): strips stay in cache and their temporaries stay a small
# share of a plane; 64 rows of a 4096 px image, so a halo of up to 10 rows costs little.
STRIP_PIXELS = 2**18
PERCENTILE_SAMPLE = 2**18  # pixels that robust_range looks at
# From 2 x SMALL_SIGMA (px) on, a blur runs on a copy area-averaged by a power of two (an exact
# factor keeps OpenCV on its fast paths), sized so that the blur left to do there is 2-4 of its
# pixels; a direct kernel would be 6*sigma+1 taps wide.
SMALL_SIGMA = 2.0


def strip_rows(width: int) -> int:
    """Rows per strip for an image ``width`` px wide."""
    return max(16, STRIP_PIXELS // max(width, 1))


def border_indices(start: int, stop: int, size: int, seamless: bool) -> np.ndarray:
    """Indices ``start..stop-1`` folded into ``0..size-1``: modulo (wrap) or mirrored about the
    image's edge (OpenCV's BORDER_REFLECT, ``cba|abc``: the same mirror the area-averaged path
    sees, whose pixel centres lie half a pixel inside the edge too)."""
    idx = np.arange(start, stop)
    if seamless:
        return idx % size
    period = 2 * size
    idx = idx % period
    return np.where(idx >= size, period - 1 - idx, idx)


def filter_in_strips(plane: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], halo: int, seamless: bool,
                     out: np.ndarray | None = None, rows: int | None = None) -> np.ndarray:
    """``fn`` applied to ``plane`` as if its borders wrapped (``seamless``) or mirrored.

    ``fn`` gets strips padded by ``halo`` pixels on every side and must return an array of the
    same height and width (its own border handling only touches the halo, which is cut off).
    ``out`` must not be ``plane``: a strip's halo reads rows that the strip before has written.
    """
    if out is plane:
        raise ValueError("filter_in_strips cannot write into its input")
    height, width = plane.shape[:2]
    result = np.empty_like(plane) if out is None else out
    columns = border_indices(-halo, width + halo, width, seamless)
    rows = rows or strip_rows(width)
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        if top - halo >= 0 and bottom + halo <= height:
            strip = plane[top - halo:bottom + halo]   # a view: the copy below is the only one
        else:
            strip = plane[border_indices(top - halo, bottom + halo, height, seamless)]
        if halo and halo <= width:
            strip = cv2.copyMakeBorder(strip, 0, 0, halo, halo, cv2.BORDER_WRAP if seamless else cv2.BORDER_REFLECT)
        elif halo:
            strip = np.take(strip, columns, axis=1)
        filtered = fn(strip)
        result[top:bottom] = filtered[halo:halo + bottom - top, halo:halo + width]
    return result


def gaussian_radius(sigma: float) -> int:
    return max(1, math.ceil(3 * sigma))


def _direct_blur(plane: np.ndarray, sigma: float, seamless: bool, out: np.ndarray | None) -> np.ndarray:
    radius = gaussian_radius(sigma)
    size = 2 * radius + 1
    return filter_in_strips(plane, lambda s: cv2.GaussianBlur(s, (size, size), sigma, borderType=cv2.BORDER_REFLECT),
                            radius, seamless, out)


class SmoothField:
    """A low-frequency field kept as a small image, evaluated at full size on demand.

    ``small`` covers the full ``height x width`` image; ``rows(top, bottom)`` resamples it
    bilinearly (pixel centres aligned, wrap-around or clamped borders) for those rows only,
    so a full-size copy exists only if the caller asks for one.
    """

    def __init__(self, small: np.ndarray, height: int, width: int, seamless: bool) -> None:
        self.small, self.height, self.width, self.seamless = small, height, width, seamless

    def rows(self, top: int, bottom: int, out: np.ndarray | None = None) -> np.ndarray:
        sh, sw = self.small.shape[:2]
        factor = self.width // sw
        if factor * sw == self.width and factor * sh == self.height:
            return self._rows_exact(top, bottom, factor, out)
        sx, sy = self.width / sw, self.height / sh
        # dst = s * src + (s - 1) / 2 maps pixel centres onto pixel centres; then shift to the strip.
        matrix = np.array([[sx, 0.0, (sx - 1) / 2], [0.0, sy, (sy - 1) / 2 - top]], np.float64)
        border = cv2.BORDER_WRAP if self.seamless else cv2.BORDER_REPLICATE
        return cv2.warpAffine(self.small, matrix, (self.width, bottom - top), dst=out, flags=cv2.INTER_LINEAR,
                              borderMode=border)

    def _rows_exact(self, top: int, bottom: int, factor: int, out: np.ndarray | None) -> np.ndarray:
        # An integer factor: cv2.resize (several times faster than warpAffine) on the small rows
        # that cover the strip, with one small pixel of wrapped or clamped margin all round;
        # resize maps pixel centres the same way (dst + 0.5 = factor * (src + 0.5)).
        first, last = top // factor - 1, (bottom - 1) // factor + 1
        sh, sw = self.small.shape[:2]
        rows = np.arange(first, last + 1)
        rows = rows % sh if self.seamless else np.clip(rows, 0, sh - 1)
        border = cv2.BORDER_WRAP if self.seamless else cv2.BORDER_REPLICATE
        block = cv2.copyMakeBorder(self.small[rows], 0, 0, 1, 1, border)
        big = cv2.resize(block, ((sw + 2) * factor, len(rows) * factor), interpolation=cv2.INTER_LINEAR)
        offset = top - first * factor
        result = big[offset:offset + bottom - top, factor:factor + self.width]
        if out is None:
            return np.ascontiguousarray(result)
        out[...] = result
        return out

    def full(self, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            out = np.empty((self.height, self.width) + self.small.shape[2:], self.small.dtype)
        # Strips of at least 8 small rows: each one resizes 2 rows of margin it does not keep.
        step = max(4 * strip_rows(self.width), 8 * round(self.height / self.small.shape[0]))
        for top in range(0, self.height, step):
            bottom = min(self.height, top + step)
            self.rows(top, bottom, out=out[top:bottom])
        return out


def shrink(plane: np.ndarray, factor: float) -> np.ndarray:
    """Area-averaged copy ``factor`` times smaller (at least 2x2): uses only the image's own pixels."""
    height, width = plane.shape[:2]
    size = (max(2, round(width / factor)), max(2, round(height / factor)))
    return cv2.resize(plane, size, interpolation=cv2.INTER_AREA)


def smooth_field(plane: np.ndarray, sigma: float, seamless: bool) -> SmoothField:
    """The Gaussian blur of ``plane`` (``sigma`` px, at least ``2 * SMALL_SIGMA``) as a SmoothField.

    Each axis keeps its own factor: a strip a few pixels wide cannot shrink as far across as
    along (``shrink`` keeps at least 2 pixels), so its blur left to do across is larger. Where
    that blur is wider than the axis's period (its length wrapped, twice it mirrored), the
    result along it is the axis's mean to within 1e-8, which is taken directly: a blur with
    a kernel thousands of taps wide on a 1x4000 strip used to run for many minutes in OpenCV.
    """
    factor = 2 ** math.floor(math.log2(sigma / SMALL_SIGMA))
    small = shrink(plane, factor)
    blurred = small.astype(np.float32, copy=True)
    for axis in (0, 1):
        length = small.shape[axis]
        # The area average and the bilinear upsampling each blur a little (variance 1/12 and 1/6
        # of a small pixel squared): the small blur makes up only the rest.
        axis_sigma = math.sqrt(max((sigma * length / plane.shape[axis]) ** 2 - 0.25, 0.25))
        period = length if seamless else 2 * length
        if axis_sigma >= period:
            blurred[...] = blurred.mean(axis=axis, keepdims=True)
            continue
        radius = gaussian_radius(axis_sigma)
        # Mirrored about the image's edge, as border_indices does at full size.
        pad = [(radius, radius) if a == axis else (0, 0) for a in range(blurred.ndim)]
        padded = np.pad(blurred, pad, mode="wrap" if seamless else "symmetric")
        kernel = cv2.getGaussianKernel(2 * radius + 1, axis_sigma, cv2.CV_32F)
        ones = np.ones((1, 1), np.float32)
        kx, ky = (ones, kernel) if axis == 0 else (kernel, ones)
        filtered = cv2.sepFilter2D(padded, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_CONSTANT)
        blurred = filtered[radius:-radius] if axis == 0 else filtered[:, radius:-radius]
    return SmoothField(np.ascontiguousarray(blurred, dtype=small.dtype), plane.shape[0], plane.shape[1], seamless)


def lowpass(plane: np.ndarray, sigma: float, seamless: bool, out: np.ndarray | None = None) -> np.ndarray:
    """Gaussian blur of a float32 plane, ``sigma`` in pixels; wrap-around borders when ``seamless``."""
    if sigma < 0.3:
        if out is None:
            return plane.copy()
        out[...] = plane
        return out
    if sigma < 2 * SMALL_SIGMA:
        return _direct_blur(plane, sigma, seamless, out)
    return smooth_field(plane, sigma, seamless).full(out)


def gradients(plane: np.ndarray, seamless: bool) -> tuple[np.ndarray, np.ndarray]:
    """Centred per-pixel derivatives d/dx (columns) and d/dy (rows, downwards): 3x3 Sobel / 8."""
    def sobel(dx: int, dy: int) -> np.ndarray:
        return filter_in_strips(plane, lambda s: cv2.Sobel(s, cv2.CV_32F, dx, dy, ksize=3, scale=0.125), 1, seamless)
    return sobel(1, 0), sobel(0, 1)


def robust_range(plane: np.ndarray, weights: np.ndarray | None = None, low: float = 0.5,
                 high: float = 99.5) -> tuple[float, float]:
    """Percentiles ``low``/``high`` (0-100) of a plane, from a regular subsample of about 256K
    pixels (the exact ones would sort 16M values); ``weights`` > 0.5 selects the pixels counted."""
    step = max(1, int(math.sqrt(plane.size / PERCENTILE_SAMPLE)))
    sample = plane[::step, ::step]
    if weights is not None:
        sample = sample[weights[::step, ::step] > 0.5]
    if sample.size == 0:
        return 0.0, 0.0
    lo, hi = np.percentile(sample, [low, high])
    return float(lo), float(hi)
