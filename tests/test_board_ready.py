"""make_board_ready: the job's one call, its report, bad input, the PBR check, the measures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.textures import natural_texture
from upscaler.board import BoardOptions, check_pbr, has_texture, make_board_ready
from upscaler.board.measures import (border_detail_ratio, cross_fade_tile, cut_seam_score, low_frequency_step,
                                     mean_color_delta_e, wrap_seam_score)


def layouts() -> list[np.ndarray]:
    bgr8 = natural_texture(90, 110, seed=1)
    bgr16 = natural_texture(90, 110, seed=1, dtype=np.uint16)
    return [bgr8, bgr8[:, :, 1], bgr16, bgr16[:, :, 0],
            np.dstack([bgr8, np.full((90, 110), 255, np.uint8)]), np.dstack([bgr16, bgr16[:, :, 2]])]


@pytest.mark.parametrize("pixels", layouts(), ids=["bgr8", "gray8", "bgr16", "gray16", "bgra8", "bgra16"])
def test_every_layout_comes_back_as_a_tile_in_its_own_layout(pixels: np.ndarray) -> None:
    out, report = make_board_ready(pixels, BoardOptions(make_tileable=True, width_mm=220.0))
    assert out.dtype == pixels.dtype and out.ndim == pixels.ndim and out.shape[2:] == pixels.shape[2:]
    assert out.shape[:2] == (90 - 11, 110 - 14) and report.output_size == [96, 79]
    assert report.tileable and report.method == "cut" and wrap_seam_score(out) <= 1.25
    assert report.size_mm == pytest.approx([96 * 2.0, 79 * 2.0])
    # The tile's first column and row lie in the middle half of the cut bands (14 and 11 px).
    assert report.crop["width"] == 96 and report.crop["height"] == 79
    assert 14 // 4 <= report.crop["x"] <= 3 * 14 // 4 and 11 // 4 <= report.crop["y"] <= 3 * 11 // 4
    assert report.crop_fraction == pytest.approx([14 / 110, 11 / 90], abs=1e-4)
    json.dumps(report.as_dict())   # the job records it as JSON


def test_without_options_only_the_pbr_check_runs() -> None:
    pixels = natural_texture(64, 64, seed=2)
    out, report = make_board_ready(pixels)
    assert out is pixels and not report.tileable and report.crop is None
    assert report.pbr["pixels"] == 64 * 64


def test_tiny_images_are_returned_with_a_warning() -> None:
    pixels = natural_texture(20, 300, seed=3)
    out, report = make_board_ready(pixels, BoardOptions(make_tileable=True, repeat="auto"))
    assert out is pixels and not report.tileable
    assert report.warnings == ["image too small to make tileable (300x20 px; a cut needs at least 24 px a side): "
                               "returned as it is"]


def test_an_image_without_texture_is_returned_with_a_warning() -> None:
    rng = np.random.default_rng(4)
    flat = np.clip(128 + rng.normal(0, 1.5, (200, 200, 3)), 0, 255).astype(np.uint8)
    lit = np.clip(flat * np.linspace(0.8, 1.2, 200)[None, :, None], 0, 255).astype(np.uint8)
    for pixels in (flat, lit):
        assert not has_texture(pixels)
        out, report = make_board_ready(pixels, BoardOptions(make_tileable=True))
        assert out is pixels and any("no texture" in w for w in report.warnings)
    assert has_texture(natural_texture(200, 200))


def test_anything_but_an_image_array_is_a_programming_error() -> None:
    for bad in (np.zeros((8, 8), np.float32), np.zeros((8, 8, 2), np.uint8), np.zeros(8, np.uint8)):
        with pytest.raises(ValueError, match="pixels must be"):
            make_board_ready(bad)
    for options in ({"width_mm": 0.0}, {"width_mm": float("nan")}, {"repeat": (0, 2)}, {"repeat": "sometimes"}):
        with pytest.raises(ValueError):
            BoardOptions(**options)


def test_pbr_check_counts_out_of_range_pixels_and_changes_nothing() -> None:
    pixels = np.full((100, 100, 3), 128, np.uint8)
    pixels[:10] = 20          # 10% too dark for a non-metal (below 50 sRGB)
    pixels[10:15] = 250       # 5% too bright (above 240 sRGB)
    pixels[15:20] = (0, 0, 200)   # saturated red: luminance about 95 sRGB, in range
    before = pixels.copy()
    check = check_pbr(pixels)
    assert check.too_dark == pytest.approx(0.10) and check.too_bright == pytest.approx(0.05)
    assert check.out_of_range == pytest.approx(0.15) and check.metal == 0
    assert "15.0% of the pixels" in check.warning()
    assert np.array_equal(pixels, before)
    _, report = make_board_ready(pixels)
    assert report.pbr["too_dark"] == pytest.approx(0.10) and any("plausible" in w for w in report.warnings)
    assert check_pbr(np.full((10, 10), 128, np.uint8)).warning() is None


def test_pbr_check_holds_metal_to_the_metal_range_and_skips_transparent_pixels() -> None:
    steel = np.full((50, 50, 4), 150, np.uint8)   # grey: bare metal, but only 150 sRGB (under 70%)
    steel[:25, :, :3] = 200
    steel[:, :10, 3] = 0                          # a cut-out: not counted
    check = check_pbr(steel, category="metal")
    assert check.metal == pytest.approx(1.0) and check.metal_too_dark == pytest.approx(0.5)
    assert check.pixels == 50 * 40
    assert check_pbr(steel, category="wood").metal_too_dark == 0


def test_measures_tell_a_tile_from_a_photo() -> None:
    photo = natural_texture(120, 140, seed=5)
    assert wrap_seam_score(photo) > 2
    faded = cross_fade_tile(photo)
    assert wrap_seam_score(faded) < 1.25   # a cross-fade meets at its edges ...
    assert border_detail_ratio(faded) < 0.85 * border_detail_ratio(photo)   # ... by washing the texture out
    ramp = np.clip(photo * np.linspace(0.5, 1.5, 140)[None, :, None], 0, 255).astype(np.uint8)
    assert low_frequency_step(ramp) > max(2.0, 1.5 * low_frequency_step(photo))
    assert mean_color_delta_e(photo, photo) == pytest.approx(0, abs=1e-6)
    assert mean_color_delta_e(photo, np.clip(photo.astype(int) + 8, 0, 255).astype(np.uint8)) > 1
    rows, cols = (a.astype(np.int32) for a in np.mgrid[0:120, 0:140])
    # Natural neighbours everywhere but across the wrap: the cut score is the wrap's.
    assert cut_seam_score(photo, rows, cols) == pytest.approx(wrap_seam_score(photo), rel=0.05)
