"""The real x4plus weights do what they are for: sharper than bicubic on material textures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import upscaler.compat  # noqa: F401
from basicsr.metrics.niqe import calculate_niqe

from tests.support import SAMPLES
from upscaler.engine import Engine
from upscaler.evaluation.image_metrics import psnr, seam_score
from upscaler.engine.options import EngineOptions


def niqe(gray: np.ndarray) -> float:
    return float(calculate_niqe(gray[:, :, None], 0, input_order="HWC", convert_to="y"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gravel", "grass"])
def test_x4plus_beats_bicubic_on_niqe(engine: Engine, name: str) -> None:
    image = cv2.imread(str(SAMPLES / f"{name}.png"), cv2.IMREAD_UNCHANGED)
    upscaled = engine.upscale(image, EngineOptions(model="realesrgan-x4plus"))
    bicubic = cv2.resize(image, upscaled.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    assert niqe(upscaled) < niqe(bicubic) - 1.0  # lower NIQE = more natural; measured ~3 apart


def test_psnr_and_seam_score_known_values() -> None:
    a = np.zeros((8, 8))
    assert psnr(a, a) == float("inf")
    assert psnr(a, a + 0.1) == pytest.approx(20.0)
    ramp = np.tile(np.arange(16, dtype=float), (16, 1))
    assert seam_score(ramp, columns=[8]) == pytest.approx(1.0)
    stepped = ramp.copy()
    stepped[:, 8:] += 10  # a visible step of 10 where neighbours differ by 1
    assert seam_score(stepped, columns=[8]) > 5
