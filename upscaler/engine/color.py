"""Colour fidelity: keep the network's detail, restore the input's colour.

Real-ESRGAN-family models shift colour (the study: yellow tones come out whiter). With
``preserve_color`` the output's low-frequency Lab components are replaced by those of the
input enlarged with bicubic interpolation: everything finer than the low-pass (the model's
texture and detail) stays the model's, the colour cast and any brightness drift go. Chroma
alone is not enough: the measured drift (CIEDE2000) also counts lightness, which these models
shift too. The low-pass is a Gaussian of ``sigma_input_px`` input
pixels, the same scale at which :func:`upscaler.quality.colour_drift` measures drift.
"""

from __future__ import annotations

import cv2
import numpy as np

SIGMA_INPUT_PX = 2.0


def preserve_color(original: np.ndarray, upscaled: np.ndarray, sigma_input_px: float = SIGMA_INPUT_PX) -> np.ndarray:
    """BGR(A) ``upscaled`` with its low-frequency chroma taken from ``original`` (same dtype)."""
    if upscaled.ndim == 2:
        return upscaled  # gray: no chroma to correct
    maxval = float(np.iinfo(upscaled.dtype).max)
    height, width = upscaled.shape[:2]
    scale = width / original.shape[1]
    sigma = sigma_input_px * scale
    out_lab = cv2.cvtColor(upscaled[:, :, :3].astype(np.float32) / maxval, cv2.COLOR_BGR2Lab)
    reference = cv2.resize(original[:, :, :3], (width, height), interpolation=cv2.INTER_CUBIC)
    ref_lab = cv2.cvtColor(reference.astype(np.float32) / maxval, cv2.COLOR_BGR2Lab)
    for channel in (0, 1, 2):
        detail = out_lab[:, :, channel] - cv2.GaussianBlur(out_lab[:, :, channel], (0, 0), sigma)
        out_lab[:, :, channel] = cv2.GaussianBlur(ref_lab[:, :, channel], (0, 0), sigma) + detail
    bgr = np.clip(cv2.cvtColor(out_lab, cv2.COLOR_Lab2BGR) * maxval, 0, maxval)
    result = upscaled.copy()
    result[:, :, :3] = np.rint(bgr).astype(upscaled.dtype)
    return result
