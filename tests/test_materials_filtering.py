"""The material maps' filters: wrap-around and mirrored blurs against OpenCV on a padded copy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from upscaler.materials.filtering import border_indices, gaussian_radius, gradients, lowpass


def reference_blur(plane: np.ndarray, sigma: float, seamless: bool) -> np.ndarray:
    pad = int(4 * sigma) + 2
    border = cv2.BORDER_WRAP if seamless else cv2.BORDER_REFLECT
    reps = -(-pad // min(plane.shape)) + 1   # OpenCV's wrap border cannot be wider than the image
    big = np.tile(plane, (2 * reps + 1, 2 * reps + 1)) if seamless else plane
    offset = reps * plane.shape[0] if seamless else 0, reps * plane.shape[1] if seamless else 0
    padded = cv2.copyMakeBorder(big, pad, pad, pad, pad, border)
    size = 2 * gaussian_radius(sigma) + 1   # the kernel size lowpass uses (3 sigma each side)
    blurred = cv2.GaussianBlur(padded, (size, size), sigma)[pad:-pad, pad:-pad]
    return blurred[offset[0]:offset[0] + plane.shape[0], offset[1]:offset[1] + plane.shape[1]]


@pytest.mark.parametrize("seamless", [True, False])
@pytest.mark.parametrize("sigma", [0.8, 2.5, 6.0, 24.0])
@pytest.mark.parametrize("shape", [(128, 128), (96, 160), (100, 75)])
def test_lowpass_is_a_gaussian_blur_with_the_right_borders(seamless: bool, sigma: float, shape) -> None:
    rng = np.random.default_rng(0)
    plane = cv2.GaussianBlur(rng.random(shape).astype(np.float32), (0, 0), 1.0)
    got = lowpass(plane, sigma, seamless)
    want = reference_blur(plane, sigma, seamless)
    # Direct kernels are exact; the area-averaged path approximates the Gaussian (measured
    # within 4% of the signal's spread at every pixel).
    tolerance = 1e-4 if sigma < 4 else 0.05 * float(np.ptp(want)) + 1e-4
    assert np.abs(got - want).max() <= tolerance
    assert abs(float(got.mean()) - float(plane.mean())) < 0.01   # nothing lost or gained


def test_wrap_around_blur_and_gradients_commute_with_a_cyclic_shift() -> None:
    plane = np.random.default_rng(1).random((64, 96)).astype(np.float32)
    for sigma, tolerance in ((1.5, 1e-5), (12.0, 0.1)):   # the area-averaged path: within 10% of the spread
        shifted = lowpass(np.roll(plane, (7, 33), (0, 1)), sigma, True)
        expected = np.roll(lowpass(plane, sigma, True), (7, 33), (0, 1))
        assert np.abs(shifted - expected).max() <= tolerance * max(float(np.ptp(expected)), 1e-3), sigma
    gx, gy = gradients(plane, True)
    sx, sy = gradients(np.roll(plane, (3, 5), (0, 1)), True)
    assert np.allclose(sx, np.roll(gx, (3, 5), (0, 1)), atol=1e-6) and np.allclose(sy, np.roll(gy, (3, 5), (0, 1)), atol=1e-6)
    # Centred: a ramp's derivative is its slope everywhere inside, with no half-pixel offset.
    ramp = np.tile(np.arange(32, dtype=np.float32) * 0.5, (16, 1))
    assert np.allclose(gradients(ramp, False)[0][:, 1:-1], 0.5)


def test_border_indices_wrap_and_mirror() -> None:
    assert border_indices(-3, 8, 5, True).tolist() == [2, 3, 4, 0, 1, 2, 3, 4, 0, 1, 2]
    assert border_indices(-3, 8, 5, False).tolist() == [2, 1, 0, 0, 1, 2, 3, 4, 4, 3, 2]
