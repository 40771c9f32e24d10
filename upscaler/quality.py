"""Image quality measures shared by tests, benchmarks and reports."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape arrays (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def seam_score(image: np.ndarray, columns: Sequence[int] = (), rows: Sequence[int] = ()) -> float:
    """How much the image jumps across the given boundaries, relative to everywhere else.

    A boundary at column ``c`` lies between columns ``c - 1`` and ``c`` (row ``r`` likewise).
    The score is the mean absolute difference across those boundaries divided by the mean
    absolute difference between all neighbouring columns/rows: about 1.0 when the boundaries
    are invisible, clearly above 1 for a visible seam.
    """
    img = image.astype(np.float64)
    dx = np.abs(np.diff(img, axis=1))  # dx[:, c - 1] is the step from column c - 1 to c
    dy = np.abs(np.diff(img, axis=0))
    across = [dx[:, c - 1].mean() for c in columns] + [dy[r - 1].mean() for r in rows]
    if not across:
        raise ValueError("seam_score needs at least one boundary")
    everywhere = (dx.mean() * len(columns) + dy.mean() * len(rows)) / (len(columns) + len(rows))
    return float(np.mean(across) / everywhere)


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on the Y channel (ITU-R BT.601) of two HxWx3 RGB images in 0..1, basicsr's way."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_ssim

    to8 = lambda img: np.clip(np.rint(img[:, :, ::-1] * 255), 0, 255)  # noqa: E731  (RGB -> BGR, 0..255)
    return float(calculate_ssim(to8(a), to8(b), crop_border=0, input_order="HWC", test_y_channel=True))
