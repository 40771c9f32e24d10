"""Image quality measures shared by tests, benchmarks and reports."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
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
    """SSIM on the Y channel (ITU-R BT.601) of two HxWx3 RGB images in 0..1, basicsr's way
    (the training validation uses it on network outputs)."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_ssim

    to8 = lambda img: np.clip(np.rint(img[:, :, ::-1] * 255), 0, 255)  # noqa: E731  (RGB -> BGR, 0..255)
    return float(calculate_ssim(to8(a), to8(b), crop_border=0, input_order="HWC", test_y_channel=True))


def wrap_seam_score(image: np.ndarray) -> float:
    """How visible the wrap-around edges of a texture are when it is tiled.

    Mean absolute difference between the last and first column (and row), relative to the mean
    difference between neighbouring columns (and rows) inside: about 1.0 for a seamless tile.
    """
    img = image.astype(np.float64)
    across = (np.abs(img[:, 0] - img[:, -1]).mean() + np.abs(img[0] - img[-1]).mean()) / 2
    inside = (np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=0)).mean()) / 2
    return float(across / inside)


def colour_drift(original: np.ndarray, upscaled: np.ndarray, sigma_input_px: float = 2.0) -> float:
    """Mean CIEDE2000 between the input and the output brought back to the input's size (area),
    both low-passed by a Gaussian of ``sigma_input_px``: colour casts, not texture. BGR uint8/16."""
    from skimage.color import deltaE_ciede2000

    if original.ndim == 2:
        return 0.0
    height, width = original.shape[:2]
    back = cv2.resize(upscaled[:, :, :3], (width, height), interpolation=cv2.INTER_AREA)

    def lab(img: np.ndarray) -> np.ndarray:
        maxval = float(np.iinfo(img.dtype).max)
        smooth = cv2.GaussianBlur(img[:, :, :3].astype(np.float32) / maxval, (0, 0), sigma_input_px)
        return cv2.cvtColor(smooth, cv2.COLOR_BGR2Lab)

    return float(deltaE_ciede2000(lab(original), lab(back)).mean())


def niqe(image: np.ndarray) -> float:
    """basicsr's NIQE (lower = more natural) on the Y channel of a BGR or gray uint8 image."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.niqe import calculate_niqe

    img = image if image.ndim == 3 else image[:, :, None]
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / 257).round().astype(np.uint8)
    return float(calculate_niqe(img[:, :, :3] if img.shape[2] >= 3 else img, 0, input_order="HWC", convert_to="y"))


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on the Y channel (BT.601) of two BGR uint8 images, as SR papers report it."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_psnr

    return float(calculate_psnr(a, b, crop_border=0, input_order="HWC", test_y_channel=True))
