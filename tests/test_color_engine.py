"""The real x4plus network between a colour-managed decode and encode."""

from __future__ import annotations

import pytest

from tests.test_color_decode import LIMITS, SWATCHES, render_srgb
from tests.test_color_encode import embedded_icc, wide_gamut_input
from upscaler.engine import Engine
from upscaler.evaluation.image_metrics import color_drift
from upscaler.imageio import decode, encode
from upscaler.engine.options import EngineOptions


@pytest.mark.slow
@pytest.mark.parametrize("color_space", ["srgb", "keep"])
def test_x4plus_on_a_prophoto_swatch(engine: Engine, color_space: str) -> None:
    data, icc = wide_gamut_input("prophoto", "PNG", SWATCHES[2])
    decoded = decode(data, "swatch.png", LIMITS)
    crop = decoded.pixels[40:88, 40:88]  # 48 x 48: the engine sees sRGB, as with any input
    crop_data = encode(crop, "png", color=decoded.color, color_space="keep")
    # preserve_color takes the model's own colour cast out, so what is measured is colour management.
    upscaled = engine.upscale(crop, EngineOptions(preserve_color=True))
    assert upscaled.shape == (192, 192, 3)
    out = encode(upscaled, "png", color=decoded.color, color_space=color_space)
    assert (embedded_icc(out) == icc) is (color_space == "keep")
    assert color_drift(render_srgb(crop_data), render_srgb(out)) <= 1.0
