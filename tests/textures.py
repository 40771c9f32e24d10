"""Synthetic test images, importable without the test services (the benchmarks use them too)."""

from __future__ import annotations

import numpy as np


def texture(height: int, width: int, channels: int = 3, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A deterministic, natural-looking test image: smooth shapes plus fine grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for c in range(channels):
        phase = rng.uniform(0, 6.28, 3)
        plane = (0.5 + 0.25 * np.sin(xx / (7 + 3 * c) + phase[0]) * np.cos(yy / (9 + c) + phase[1])
                 + 0.15 * np.sin((xx + yy) / 23 + phase[2]) + rng.normal(0, 0.03, (height, width)))
        planes.append(plane)
    img = np.clip(np.stack(planes, -1), 0, 1)
    maxval = np.iinfo(dtype).max
    img = np.rint(img * maxval).astype(dtype)
    return img[:, :, 0] if channels == 1 else img


def natural_texture(height: int, width: int, seed: int = 0, dtype=np.uint8) -> np.ndarray:
    """A BGR image with structure at every scale and no repeat (stone, plaster, carpet-like):
    Gaussian-filtered noise at sigmas of 1, 3, 8 and 20 px, summed, the channels related."""
    import cv2

    rng = np.random.default_rng(seed)
    base = np.zeros((height, width), np.float32)
    for sigma, weight in ((1, 0.25), (3, 0.35), (8, 0.3), (20, 0.25)):
        field = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), sigma)
        base += weight * field / max(float(field.std()), 1e-6)
    base = (base - base.mean()) / base.std()
    tint = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 6)
    tint /= max(float(tint.std()), 1e-6)
    bgr = np.stack([0.45 + 0.12 * base - 0.03 * tint, 0.5 + 0.13 * base, 0.55 + 0.12 * base + 0.03 * tint], -1)
    maxval = np.iinfo(dtype).max
    return np.rint(np.clip(bgr, 0, 1) * maxval).astype(dtype)


def repeated_pattern(period: tuple[float, float], repeats: tuple[float, float], ramp: float = 0.1,
                     noise: float = 3.0, seed: int = 0) -> np.ndarray:
    """A BGR uint8 photo of a repeating pattern: a natural texture patch repeated with periods
    ``period`` = (down, across) px (any real number: the repeat is resampled), ``repeats`` times
    each way (e.g. 3.3 x 3.4), under a light ramp of +-``ramp`` across and half that down, plus
    Gaussian noise of ``noise`` levels."""
    import cv2

    patch_px = 64
    patch = natural_texture(patch_px, patch_px, seed).astype(np.float32)
    whole = [int(np.ceil(r)) + 1 for r in repeats]
    tiled = np.tile(patch, (whole[0], whole[1], 1))
    # Resample so that patch_px becomes the wanted (fractional) period; the crop starts at 0.
    height, width = round(repeats[0] * period[0]), round(repeats[1] * period[1])
    matrix = np.array([[patch_px / period[1], 0, 0], [0, patch_px / period[0], 0]], np.float64)
    img = cv2.warpAffine(tiled, matrix, (width, height), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                         borderMode=cv2.BORDER_REFLECT)
    light = (1 + ramp * np.linspace(-1, 1, width)[None, :] + ramp / 2 * np.linspace(-1, 1, height)[:, None])
    img = img * light[:, :, None].astype(np.float32)
    img += np.random.default_rng(seed + 1).normal(0, noise, img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
