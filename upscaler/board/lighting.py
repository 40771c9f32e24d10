"""The light across a photo: a ramp, and what its opposite edges still differ by, taken out first.

A photo lit from one side is brighter on that side. Cut into a tile, the copy of its right edge
that meets its left edge is brighter than the left edge, and no cut can hide that: a tiling
shows a brightness step at every repeat. So before any cut, the brightness the edges differ by
is divided out, in linear light and by the same factor on every channel (the colour stays; the
materials' de-lighting does the same). Two parts, both fitted to the log of the linear luminance
on a copy area-averaged to at most ``GRID`` px:

1. The ramp: a plane fitted by least squares to every pixel. A light falloff across a swatch is
   mostly a ramp, and a plane fitted to every pixel follows the light, not the texture's blotches
   (which average out). A vignette, which is the same at opposite edges, is not a ramp and stays.
2. What is left, at the wrap (``wrap_field``, on the finished tile): the cuts join the two sides
   of each tile edge pixel by pixel, but a plank or a patch of a different tone near one edge
   still makes the tiling brighter on one side of the edge than the other. Each row's step
   across the wrap (the tile's luminance blurred by ``WRAP_SIGMA`` of its side, at its last
   column against its first) is spread evenly across the tile, as a gain that changes linearly
   from one edge to the other with a slope of its own for each row (the steps smoothed along
   the edge); then the columns' steps the same way. Spread over the whole tile, a step is a
   slope the eye does not see; the tile's mean brightness stays.

Each correction is limited to ``MAX_LOG_GAIN``; the ramp's is centred on the tile.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from upscaler.materials.filtering import SmoothField, shrink
from upscaler.materials.maps import color_planes, max_value, srgb_to_linear

GRID = 96           # px: the longer side of the copy the light is fitted on
NEGLIGIBLE = 0.004  # largest |log gain| below which nothing is changed (under 0.4%)
MAX_LOG_GAIN = 0.7  # |log gain| at the far corners is limited to this (x2, a stop): light, not a repaint
WRAP_SIGMA = 1 / 10  # of the tile's side: the blur the steps at the wrap are measured on (a brightness step
                    # seen from a distance, as the low-frequency step of bench/tileable.py sees it)


def ramp_field(region: np.ndarray, tile: tuple[int, int]) -> SmoothField | None:
    """The gain (in linear light) that takes the brightness ramp out of ``region`` (OpenCV layout,
    uint8/uint16), 1 on average over its top-left ``tile`` = (height, width) px; None when it
    would change no pixel by more than 0.4%."""
    height, width = region.shape[:2]
    log_lum = _log_luminance(region)
    sh, sw = log_lum.shape
    yy, xx = np.mgrid[0:sh, 0:sw]
    u, v = (xx + 0.5) / sw - 0.5, (yy + 0.5) / sh - 0.5
    basis = np.stack([np.ones(u.size), u.ravel(), v.ravel()], axis=1)
    coeffs, *_ = np.linalg.lstsq(basis, log_lum.ravel(), rcond=None)
    field = -(coeffs[1] * u + coeffs[2] * v)   # log gain
    in_tile = ((yy + 0.5) / sh < tile[0] / height) & ((xx + 0.5) / sw < tile[1] / width)
    field -= field[in_tile].mean()
    return _as_gain(field, height, width)


def wrap_field(tile: np.ndarray) -> SmoothField | None:
    """The gain (in linear light) that takes out of ``tile`` (OpenCV layout, uint8/uint16) the
    brightness steps its tiling shows at the wrap, row by row and then column by column (see the
    module docstring); None when it would change no pixel by more than 0.4%."""
    height, width = tile.shape[:2]
    log_lum = _log_luminance(tile)
    field = _wrap_slopes(log_lum, min(log_lum.shape) * WRAP_SIGMA)
    field += _wrap_slopes((log_lum + field).T, min(log_lum.shape) * WRAP_SIGMA).T
    return _as_gain(field, height, width)


def _wrap_slopes(log_lum: np.ndarray, sigma: float) -> np.ndarray:
    """Per row of ``log_lum``, a periodic log gain that takes out what the row's last column is
    brighter than its first (after a blur of ``sigma``, borders reflected: the mean brightness
    just inside each edge): a sawtooth that falls by that step from the first column to the last
    and jumps back at the wrap, blurred round the wrap by ``sigma``, so that it stays continuous
    (no new edge at the wrap: it rises by the step over about 2 sigma across the wrap, where the
    tile's own brightness fell, and falls gently everywhere else). Zero on average."""
    low = cv2.GaussianBlur(log_lum.astype(np.float32), (0, 0), max(0.5, sigma), borderType=cv2.BORDER_REFLECT)
    step = ndimage.gaussian_filter1d((low[:, -1] - low[:, 0]).astype(np.float64), max(0.5, sigma), mode="wrap")
    width = log_lum.shape[1]
    saw = (np.arange(width) + 0.5) / width - 0.5   # -0.5 at the first column's edge, +0.5 at the last's
    saw = ndimage.gaussian_filter1d(saw, max(0.5, sigma), mode="wrap")
    return -step[:, None] * saw[None, :]


def _log_luminance(pixels: np.ndarray) -> np.ndarray:
    """The log of the linear luminance of a copy area-averaged to at most GRID px, float64."""
    height, width = pixels.shape[:2]
    small = shrink(pixels, max(1.0, max(height, width) / GRID)).astype(np.float32) / np.float32(max_value(pixels))
    lin = srgb_to_linear(color_planes(small))
    lum = lin @ np.float32([0.0722, 0.7152, 0.2126]) if lin.ndim == 3 else lin   # BGR, Rec. 709
    return np.log(np.maximum(lum, 1e-4)).astype(np.float64)


def _as_gain(field: np.ndarray, height: int, width: int) -> SmoothField | None:
    reach = np.abs(field).max()
    if reach < NEGLIGIBLE:
        return None
    if reach > MAX_LOG_GAIN:
        field = field * (MAX_LOG_GAIN / reach)
    return SmoothField(np.exp(field).astype(np.float32), height, width, seamless=False)


def subtract_quadratic(plane: np.ndarray) -> np.ndarray:
    """``plane`` (2-D) minus its least-squares quadratic surface, float64: a light ramp or a
    falloff taken out before measuring texture or repeats."""
    h, w = plane.shape
    yy, xx = np.mgrid[0:h, 0:w]
    u, v = xx.ravel() / w - 0.5, yy.ravel() / h - 0.5
    basis = np.stack([np.ones_like(u), u, v, u * u, u * v, v * v], axis=1)
    values = plane.ravel().astype(np.float64)
    coeffs, *_ = np.linalg.lstsq(basis, values, rcond=None)
    return (values - basis @ coeffs).reshape(h, w)
