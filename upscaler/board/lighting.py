"""The light across a photo: a ramp that no tile can hide, found and divided out first.

A photo lit from one side is brighter on that side. Cut into a tile, the copy of its right edge
that meets its left edge is brighter than the left edge, and no cut can hide that: a tiling
shows a brightness step at every repeat. So before any cut, the photo's brightness ramp is
divided out, in linear light and by the same factor on every channel (the colour stays; the
materials' de-lighting does the same).

The ramp is a plane fitted by least squares to the log of the linear luminance, on a copy
area-averaged to at most ``GRID`` px: a light falloff across a swatch is mostly a ramp, and a
plane fitted to every pixel follows the light, not the texture's blotches (which average out;
what is left of them at a seam the cut and the fusion deal with locally). A vignette, which is
the same at opposite edges, is not a ramp and stays. The correction is centred on the tile (its
mean brightness stays) and limited to ``MAX_LOG_GAIN``.
"""

from __future__ import annotations

import numpy as np

from upscaler.materials.filtering import SmoothField, shrink
from upscaler.materials.maps import color_planes, max_value, srgb_to_linear

GRID = 96           # px: the longer side of the copy the ramp is fitted on
NEGLIGIBLE = 0.004  # largest |log gain| below which nothing is changed (under 0.4%)
MAX_LOG_GAIN = 0.7  # |log gain| at the far corners is limited to this (x2, a stop): light, not a repaint


def ramp_field(region: np.ndarray, tile: tuple[int, int]) -> SmoothField | None:
    """The gain (in linear light) that takes the brightness ramp out of ``region`` (OpenCV layout,
    uint8/uint16), 1 on average over its top-left ``tile`` = (height, width) px; None when it
    would change no pixel by more than 0.4%."""
    height, width = region.shape[:2]
    small = shrink(region, max(1.0, max(height, width) / GRID)).astype(np.float32) / np.float32(max_value(region))
    sh, sw = small.shape[:2]
    lin = srgb_to_linear(color_planes(small))
    lum = lin @ np.float32([0.0722, 0.7152, 0.2126]) if lin.ndim == 3 else lin   # BGR, Rec. 709
    log_lum = np.log(np.maximum(lum, 1e-4)).astype(np.float64)
    yy, xx = np.mgrid[0:sh, 0:sw]
    u, v = (xx + 0.5) / sw - 0.5, (yy + 0.5) / sh - 0.5
    basis = np.stack([np.ones(u.size), u.ravel(), v.ravel()], axis=1)
    coeffs, *_ = np.linalg.lstsq(basis, log_lum.ravel(), rcond=None)
    field = coeffs[1] * u + coeffs[2] * v
    in_tile = ((yy + 0.5) / sh < tile[0] / height) & ((xx + 0.5) / sw < tile[1] / width)
    field -= field[in_tile].mean()
    reach = np.abs(field).max()
    if reach < NEGLIGIBLE:
        return None
    if reach > MAX_LOG_GAIN:
        field *= MAX_LOG_GAIN / reach
    return SmoothField(np.exp(-field).astype(np.float32), height, width, seamless=False)


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
