"""Color fidelity: keep the network's detail, restore the input's colour.

Real-ESRGAN-family models shift colour (the study: yellow tones come out whiter). With
``preserve_color`` the output's low-frequency Lab components are replaced by those of the
input enlarged with bicubic interpolation: everything finer than the low-pass (the model's
texture and detail) stays the model's, the colour cast and any brightness drift go. Chroma
alone is not enough: the measured drift (CIEDE2000) also counts lightness, which these models
shift too. The low-pass is a Gaussian of ``sigma_input_px`` input
pixels, the same scale at which :func:`upscaler.evaluation.image_metrics.color_drift` measures drift.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

SIGMA_INPUT_PX = 2.0


def preserve_color(original: np.ndarray, upscaled: np.ndarray, sigma_input_px: float = SIGMA_INPUT_PX,
                   strip_rows: int = 32) -> np.ndarray:
    """BGR(A) ``upscaled`` (an integer multiple of ``original``'s size) with its low-frequency
    colour taken from ``original``; corrected in place and returned.

    Works in strips of ``strip_rows`` input rows, each seen with a halo of rows around it that
    covers the Gaussian's reach (4 sigma) and bicubic's (2 input pixels): the result is the
    whole-image computation's, while the float Lab copies stay a strip high (a whole 32000 px
    square output would need 12 GB for each of them).
    """
    if upscaled.ndim == 2:
        return upscaled  # gray: no chroma to correct
    in_h = original.shape[0]
    scale = upscaled.shape[0] // in_h
    halo = math.ceil(4 * sigma_input_px) + 3
    carried: np.ndarray | None = None  # the uncorrected rows of the previous strip that the next one sees
    for top in range(0, in_h, strip_rows):
        bottom = min(in_h, top + strip_rows)
        above, below = max(0, top - halo), min(in_h, bottom + halo)
        fresh = upscaled[top * scale : below * scale, :, :3]
        window = fresh if carried is None else np.concatenate([carried, fresh])
        corrected = _correct_window(original[above:below, :, :3], window, sigma_input_px * scale)
        next_above = max(0, bottom - halo)
        carried = upscaled[next_above * scale : bottom * scale, :, :3].copy()
        upscaled[top * scale : bottom * scale, :, :3] = corrected[(top - above) * scale : (bottom - above) * scale]
    return upscaled


def _correct_window(original: np.ndarray, upscaled: np.ndarray, sigma: float) -> np.ndarray:
    """The correction over one window: ``upscaled`` (BGR) is ``original`` (BGR) enlarged."""
    maxval = float(np.iinfo(upscaled.dtype).max)
    height, width = upscaled.shape[:2]
    out_lab = cv2.cvtColor(upscaled.astype(np.float32) / maxval, cv2.COLOR_BGR2Lab)
    reference = cv2.resize(original, (width, height), interpolation=cv2.INTER_CUBIC)
    ref_lab = cv2.cvtColor(reference.astype(np.float32) / maxval, cv2.COLOR_BGR2Lab)
    for channel in (0, 1, 2):
        detail = out_lab[:, :, channel] - cv2.GaussianBlur(out_lab[:, :, channel], (0, 0), sigma)
        out_lab[:, :, channel] = cv2.GaussianBlur(ref_lab[:, :, channel], (0, 0), sigma) + detail
    bgr = np.clip(cv2.cvtColor(out_lab, cv2.COLOR_Lab2BGR) * maxval, 0, maxval)
    return np.rint(bgr).astype(upscaled.dtype)
