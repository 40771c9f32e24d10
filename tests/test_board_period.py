"""Repeat detection (sub-pixel periods) and tiles cut to whole repeats."""

from __future__ import annotations

import numpy as np
import pytest

from tests.textures import natural_texture, repeated_pattern
from upscaler.board import BoardOptions, find_periods, make_board_ready, parse_repeat
from upscaler.board.period import shift_correlation

# (down, across) px, fractional on purpose: the detector must find them to a fraction of a pixel.
PERIODS = [(37.3, 41.7), (64.6, 29.2), (23.5, 90.25), (17.2, 19.9)]


@pytest.mark.parametrize("period", PERIODS)
def test_the_period_of_a_lit_noisy_repeat_is_found_within_one_percent(period: tuple[float, float]) -> None:
    image = repeated_pattern(period, (3.3, 3.4))   # +-10% light ramp, noise
    down, across = find_periods(image)
    assert down.px == pytest.approx(period[0], rel=0.01)
    assert across.px == pytest.approx(period[1], rel=0.01)
    assert min(down.correlation, across.correlation) > 0.5


@pytest.mark.parametrize("period", PERIODS[:2])
def test_repeat_auto_keeps_whole_repeats(period: tuple[float, float]) -> None:
    image = repeated_pattern(period, (3.3, 3.4))
    out, report = make_board_ready(image, BoardOptions(repeat="auto", width_mm=340.0))
    assert report.method == "repeat" and report.repeats == [3, 3] and report.warnings == []
    assert out.shape[0] / period[0] == pytest.approx(3, rel=0.02)
    assert out.shape[1] / period[1] == pytest.approx(3, rel=0.02)
    mm_per_px = 340.0 / image.shape[1]
    assert report.period_mm == pytest.approx([report.period_px[0] * mm_per_px, report.period_px[1] * mm_per_px],
                                             rel=1e-3)
    assert report.size_mm == pytest.approx([out.shape[1] * mm_per_px, out.shape[0] * mm_per_px], rel=1e-3)


def test_textiles_are_cut_to_their_smallest_repeat() -> None:
    image = repeated_pattern((37.3, 41.7), (3.3, 3.4))
    out, report = make_board_ready(image, BoardOptions(repeat="auto", category="fabric"))
    assert report.repeats == [1, 1]
    assert out.shape[:2] == (round(report.period_px[1]), round(report.period_px[0]))


def test_a_given_count_guides_the_search_and_one_means_no_repeat() -> None:
    image = repeated_pattern((37.3, 41.7), (3.3, 3.4))
    out, report = make_board_ready(image, BoardOptions(repeat=(3, 1)))   # 3 across, none down
    assert report.period_px[0] == pytest.approx(41.7, rel=0.01) and report.period_px[1] is None
    assert report.repeats == [3, 0]
    assert out.shape[1] / 41.7 == pytest.approx(3, rel=0.02)


def test_no_period_is_a_warning_and_a_plain_tile() -> None:
    image = natural_texture(160, 192, seed=7)
    assert find_periods(image) == (None, None)
    out, report = make_board_ready(image, BoardOptions(repeat="auto"))
    assert report.method == "cut" and report.tileable
    assert report.period_px == [None, None] and report.repeats == [0, 0]
    assert sum("no repeat found" in w for w in report.warnings) == 2
    assert out.shape[:2] == (140, 168)   # what make_tileable alone gives


def test_shift_correlation_is_pearson_over_the_overlap() -> None:
    rng = np.random.default_rng(0)
    plane = rng.normal(size=(6, 40))
    corr = shift_correlation(plane)
    for s in (0, 3, 17):
        a, b = plane[:, :40 - s].ravel(), plane[:, s:].ravel()
        assert corr[s] == pytest.approx(np.corrcoef(a, b)[0, 1], abs=1e-9)


def test_repeat_text_is_parsed_or_refused() -> None:
    assert parse_repeat("auto") == "auto" and parse_repeat(" 4x3 ") == (4, 3) and parse_repeat("2X2") == (2, 2)
    for bad in ("4", "0x3", "x3", "fourxthree"):
        with pytest.raises(ValueError, match="repeat"):
            options = parse_repeat(bad)
            BoardOptions(repeat=options)
