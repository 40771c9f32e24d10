"""Making a tile of a photo that is not one: cuts through its own content, light matched first."""

from __future__ import annotations

import numpy as np
import pytest

from tests.textures import natural_texture
from upscaler.board.lighting import ramp_field
from upscaler.board.measures import (MAP_STEP_FLOOR, border_detail_ratio, cross_fade_tile, cut_seam_score,
                                     low_frequency_step, mean_color_delta_e, wrap_seam_score)
from upscaler.board.tileable import OVERLAP_FRACTION, AxisLayout, make_tile


def photo(height: int = 160, width: int = 192, seed: int = 0, ramp: float = 0.0) -> np.ndarray:
    """A crop of a natural texture (not a tile), optionally lit from the left (+-ramp)."""
    img = natural_texture(height, width, seed).astype(np.float32)
    img *= (1 + ramp * np.linspace(1, -1, width))[None, :, None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def symmetric_photo(seed: int) -> np.ndarray:
    """160 x 192 px, mirror-symmetric both ways: no brightness ramp for the light fit to find."""
    quarter = natural_texture(80, 96, seed)
    half = np.hstack([quarter, quarter[:, ::-1]])
    return np.ascontiguousarray(np.vstack([half, half[::-1]]))


def tile_of(image: np.ndarray, **kwargs):
    return make_tile(image, AxisLayout.plain(image.shape[0]), AxisLayout.plain(image.shape[1]), **kwargs)


def test_a_photo_becomes_a_tile_whose_cuts_are_as_quiet_as_its_texture() -> None:
    image = photo()
    assert wrap_seam_score(image) > 2   # the photo's own edges do not meet
    result = tile_of(image, trace=True)
    tile = result.pixels
    assert tile.shape == (160 - 20, 192 - 24, 3)   # the stated crop: OVERLAP_FRACTION of each side
    assert wrap_seam_score(tile) <= 1.25
    assert cut_seam_score(tile, result.source_rows, result.source_cols) <= 1.25
    # Cuts, not a blend: the border keeps the photo's fine texture; a cross-fade loses some.
    assert border_detail_ratio(tile) >= 0.85 * border_detail_ratio(image)
    assert border_detail_ratio(cross_fade_tile(image)) < 0.85 * border_detail_ratio(image)


def test_outside_the_bands_the_tile_is_the_photo_itself() -> None:
    image = symmetric_photo(seed=1)
    result = tile_of(image, trace=True)
    rows, cols = AxisLayout.plain(160), AxisLayout.plain(192)
    (y0, h), (x0, w) = rows.kept(result.origin[0]), cols.kept(result.origin[1])
    assert rows.overlap // 4 <= result.origin[0] <= 3 * rows.overlap // 4
    # Untouched middle (past the bands and the fusion's margins, half a band each): the crop of the
    # photo (this photo has no light ramp to correct).
    inner_y, inner_x = slice(rows.overlap, h - rows.overlap), slice(cols.overlap, w - cols.overlap)
    inner = result.pixels[inner_y, inner_x].astype(int) - image[y0:y0 + h, x0:x0 + w][inner_y, inner_x]
    # Changed at most by the smooth gain that takes out what step is left across the wrap.
    assert result.light_correction < 0.05
    assert np.abs(inner).max() <= 255 * result.light_correction + 1
    assert np.abs(inner - np.median(inner)).mean() < 0.5
    # Every pixel says where it came from, and the tiling's neighbours were mostly the photo's.
    assert np.array_equal(result.source_rows[inner_y, 0], np.arange(h)[inner_y] + y0)
    natural = (np.roll(result.source_cols, -1, axis=1) == result.source_cols + 1).mean()
    assert natural > 0.95


def test_alpha_is_cut_with_the_colour_and_never_blended() -> None:
    color = natural_texture(96, 96, seed=2, dtype=np.uint16)
    alpha = natural_texture(96, 96, seed=3, dtype=np.uint16)[:, :, 0]
    result = tile_of(np.dstack([color, alpha]), trace=True)
    assert result.pixels.dtype == np.uint16 and result.pixels.shape == (84, 84, 4)
    assert np.array_equal(result.pixels[:, :, 3], alpha[result.source_rows, result.source_cols])


def test_gray_images_keep_their_layout() -> None:
    gray = natural_texture(80, 100, seed=4)[:, :, 1]
    result = tile_of(gray)
    assert result.pixels.shape == (70, 88) and result.pixels.dtype == np.uint8
    assert wrap_seam_score(result.pixels) <= 1.25


def test_a_light_ramp_is_removed_before_the_cut() -> None:
    image = photo(seed=5, ramp=0.3)
    assert low_frequency_step(image) > 2.5   # a 2x2 tiling of the photo shows a step at every repeat
    result = tile_of(image)
    assert 0.3 < result.light_correction < 0.9
    assert low_frequency_step(result.pixels) <= 1.5
    assert mean_color_delta_e(image, result.pixels) <= 1.0


@pytest.mark.parametrize("seed", range(4))
def test_a_patch_of_another_tone_at_one_edge_leaves_no_step_at_the_wrap(seed: int) -> None:
    # Not a ramp: the left 48 columns a darker tone (a plank), the top 40 rows a brighter one.
    image = natural_texture(160, 192, seed).astype(np.float32)
    image[:, :48] *= 0.75
    image[:40] *= 1.2
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    assert low_frequency_step(image) > 1.8
    tile = tile_of(image).pixels
    # The step is spread over the tile, continuously: no brightness step, and no new edge.
    assert low_frequency_step(tile) <= 1.5
    assert wrap_seam_score(tile) <= 1.25


def test_the_light_fit_takes_a_ramp_and_leaves_a_vignette() -> None:
    texture = symmetric_photo(seed=6)
    assert ramp_field(texture, (140, 168)) is None   # nothing to correct: nothing is touched
    yy, xx = np.mgrid[0:160, 0:192]
    vignette = 1 - 0.3 * ((xx - 95.5) / 96) ** 2 - 0.3 * ((yy - 79.5) / 80) ** 2
    assert ramp_field(np.clip(texture * vignette[:, :, None], 0, 255).astype(np.uint8), (140, 168)) is None
    ramp = 1 + 0.2 * (xx / 191 - 0.5)   # +-10% across, in sRGB values
    field = ramp_field(np.clip(texture * ramp[:, :, None], 0, 255).astype(np.uint8), (140, 168))
    gain = field.full()
    # Linear light is about sRGB ** 2.2: the field undoes the ramp there, left darker, right brighter.
    expected = (ramp[:, -1].mean() / ramp[:, 0].mean()) ** 2.2
    assert gain[:, 0].mean() / gain[:, -1].mean() == pytest.approx(expected, rel=0.03)


def test_layouts_state_what_is_kept() -> None:
    plain = AxisLayout.plain(512)
    assert plain == AxisLayout(0, 512 - 64, 64) and OVERLAP_FRACTION == 1 / 8
    assert plain.kept() == (32, 448)
    smallest, count = AxisLayout.repeats(300, 41.5, smallest=True)
    assert count == 1 and smallest.length == 42 and smallest.end <= 300
    most, count = AxisLayout.repeats(300, 41.5, smallest=False)
    assert count == 7 and most.length == round(7 * 41.5) and most.overlap >= 4 and most.end <= 300
    assert AxisLayout.repeats(30, 29.0, smallest=False) is None   # no room for a cut past one repeat
    assert AxisLayout.repeats(100, 6.2, smallest=True)[1] == 3    # at least MIN_TILE px


def test_a_layout_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValueError, match="columns"):
        make_tile(photo(), AxisLayout.plain(160), AxisLayout(10, 180, 10))


def test_the_floor_of_a_map_seam_score_hides_rounding_not_a_one_level_step() -> None:
    """A nearly flat 8-bit map (one level, with a few isolated pixels a level up): its plain
    ratio is whatever the rounding flips along the edge make it; floored, it reads as no seam.
    The same map with a real step of one level across both its wrap edges still scores as a seam
    (across one edge only it scores 1.0: the score is the mean of the two)."""
    rng = np.random.default_rng(7)
    flat = np.full((128, 128), 13, np.uint8)
    flat[rng.random(flat.shape) < 0.01] = 14
    flat[:, 0][rng.random(128) < 0.06] = 14          # a few flips on the edge column
    identity = tuple(a.astype(np.int32) for a in np.mgrid[0:128, 0:128])
    assert wrap_seam_score(flat) > 1.25 and cut_seam_score(flat, *identity) > 1.25
    assert wrap_seam_score(flat, MAP_STEP_FLOOR) < 1.25 and cut_seam_score(flat, *identity, MAP_STEP_FLOOR) < 1.25
    rows, cols = np.mgrid[0:128, 0:128]
    stepped = flat + (rows >= 64) + (cols >= 64)   # a level up at the middle row and column, down at the wraps
    rolled = np.roll(stepped, (-64, -64), axis=(0, 1))
    assert wrap_seam_score(rolled, MAP_STEP_FLOOR) > 1.25
