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
