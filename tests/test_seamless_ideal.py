"""--seamless with the real model against its ideal, the texture repeated without end: every bundled
sample and five ground-truth crops, default tiles, fp32 (so that only the tiling is measured).

The ideal is the network run once on the image as a torus (bench/seamless.py: torus_ideal); the
first test shows it is the centre of the upscaled 3x3 tiling, the usual definition. Slow on a CPU:
about a million input pixels through x4plus in all (bench/RESULTS.md has the numbers)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench.seamless import CROPS, torus_ideal
from tests.support import SAMPLES
from upscaler.engine.options import EngineOptions
from upscaler.evaluation.image_metrics import psnr, wrap_seam_score
from upscaler.zoo.names import DEFAULT_MODEL

IMAGES = sorted(SAMPLES.rglob("*.png")) + sorted(CROPS.glob("*.png"))


def test_there_are_the_bundled_samples_and_five_crops() -> None:
    assert len(IMAGES) == len(list(SAMPLES.rglob("*.png"))) + 5 >= 11


@pytest.mark.slow
def test_the_torus_is_the_centre_of_the_upscaled_3x3_tiling(zoo, fp32_engine) -> None:
    image = cv2.imread(str(CROPS / "wood_ufoai-wood003.png"))
    n = image.shape[0] * 4
    tiled = fp32_engine.upscale(np.tile(image, (3, 3, 1)), EngineOptions(tile=0))[n : 2 * n, n : 2 * n]
    assert psnr(torus_ideal(zoo, DEFAULT_MODEL, image) / 255.0, tiled / 255.0) >= 55   # measured 63.8 dB


@pytest.mark.slow
@pytest.mark.parametrize("path", IMAGES, ids=[p.stem for p in IMAGES])
def test_seamless_output_is_within_40_db_of_the_ideal_and_seams_like_it(zoo, fp32_engine, path) -> None:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    ideal = torus_ideal(zoo, DEFAULT_MODEL, image)
    seamless = fp32_engine.upscale(image, EngineOptions(seamless=True))
    assert psnr(seamless / 255.0, ideal / 255.0) >= 40
    target = wrap_seam_score(ideal)
    assert abs(wrap_seam_score(seamless) - target) <= 0.1 * target
