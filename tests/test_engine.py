"""The engine on real pretrained models and tiny random ones: tiling, layouts, precision, threads."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support import texture
from upscaler.engine import Engine
from upscaler.engine.tiling import TilePlan
from upscaler.evaluation.image_metrics import psnr, seam_score
from upscaler.engine.options import EngineOptions

COMPACT = "realesr-animevideov3"


def as_float(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float64) / np.iinfo(img.dtype).max


@pytest.mark.slow
def test_x4plus_tiled_matches_whole_image_at_default_settings(engine: Engine) -> None:
    image = texture(230, 260, seed=1)
    options = EngineOptions()  # tile 200, tile_pad 24: the image is cut into 2x2 tiles
    assert TilePlan.for_image(230, 260, options.tile, options.tile_pad).count == 4
    tiled = engine.upscale(image, options)
    whole = engine.upscale(image, EngineOptions(tile=0))
    assert tiled.shape == (920, 1040, 3)
    assert psnr(as_float(tiled), as_float(whole)) >= 45.0


def test_blended_tiles_leave_no_seam_where_hard_tiles_do(fp32_engine: Engine) -> None:
    image = texture(192, 192, seed=2)
    opts = dict(model=COMPACT, tile=64)
    plan = TilePlan.for_image(192, 192, 64, 0)
    boundaries = [s * 4 for s in plan.cols.starts[1:]]
    whole = as_float(fp32_engine.upscale(image, EngineOptions(model=COMPACT, tile=0)))
    blended = as_float(fp32_engine.upscale(image, EngineOptions(**opts, tile_pad=24)))
    hard = as_float(fp32_engine.upscale(image, EngineOptions(**opts, tile_pad=0)))
    reference = seam_score(whole, columns=boundaries, rows=boundaries)
    assert abs(seam_score(blended, columns=boundaries, rows=boundaries) - reference) < 0.02 * reference
    # The metric does see seams: cutting without context leaves steps at the tile edges.
    error_blended = np.abs(blended - whole)
    error_hard = np.abs(hard - whole)
    assert psnr(blended, whole) >= 45.0
    edge = [b - 1 for b in boundaries] + boundaries
    assert error_hard[:, edge].mean() > 3 * error_hard.mean() > 3 * error_blended.mean()


def test_batched_tiles_equal_one_by_one(fp32_engine: Engine, tiny_rrdb: Path) -> None:
    image = texture(90, 70, seed=3)
    one = fp32_engine.upscale(image, EngineOptions(model=str(tiny_rrdb), tile=24, tile_pad=6, batch_size=1))
    many = fp32_engine.upscale(image, EngineOptions(model=str(tiny_rrdb), tile=24, tile_pad=6, batch_size=7))
    assert np.abs(one.astype(int) - many.astype(int)).max() <= 1


def test_grayscale_in_grayscale_out(engine: Engine) -> None:
    gray = texture(40, 50, channels=1, seed=4)
    out = engine.upscale(gray, EngineOptions(model=COMPACT))
    assert out.shape == (160, 200) and out.dtype == np.uint8
    color = engine.upscale(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), EngineOptions(model=COMPACT))
    assert psnr(as_float(out), as_float(cv2.cvtColor(color, cv2.COLOR_BGR2GRAY))) > 40


@pytest.mark.parametrize("mode", ["bicubic", "model"])
def test_alpha_channel_is_kept(engine: Engine, mode: str) -> None:
    bgr = texture(32, 48, seed=5)
    alpha = np.zeros((32, 48), np.uint8)
    alpha[8:24, 12:36] = 255
    out = engine.upscale(np.dstack([bgr, alpha]), EngineOptions(model=COMPACT, alpha=mode))
    assert out.shape == (128, 192, 4)
    assert out[40:88, 56:136, 3].min() > 200 and out[:20, :, 3].max() < 40
    color_only = engine.upscale(bgr, EngineOptions(model=COMPACT))
    np.testing.assert_array_equal(out[:, :, :3], color_only)


def test_sixteen_bit_stays_sixteen_bit(engine: Engine) -> None:
    image16 = texture(30, 30, seed=6, dtype=np.uint16)
    out = engine.upscale(image16, EngineOptions(model=COMPACT))
    assert out.dtype == np.uint16 and out.shape == (120, 120, 3)
    # Levels between the 8-bit steps survive: not just an 8-bit result times 257.
    assert np.count_nonzero(out % 257) > out.size // 2
    out8 = engine.upscale((image16 // 257).astype(np.uint8), EngineOptions(model=COMPACT))
    assert psnr(as_float(out), as_float(out8)) > 35


def test_outscale_resamples_to_any_factor(engine: Engine) -> None:
    image = texture(20, 30, seed=7)
    assert engine.upscale(image, EngineOptions(model=COMPACT, outscale=2)).shape == (40, 60, 3)
    assert engine.upscale(image, EngineOptions(model=COMPACT, outscale=3.5)).shape == (70, 105, 3)


def test_two_threads_two_images_do_not_mix(engine: Engine) -> None:
    images = [texture(64, 80, seed=10), texture(72, 56, seed=11)]
    options = EngineOptions(model=COMPACT, tile=24, tile_pad=8)
    expected = [engine.upscale(img, options) for img in images]
    results: dict[int, list[np.ndarray]] = {0: [], 1: []}

    def work(index: int) -> None:
        for _ in range(3):
            results[index].append(engine.upscale(images[index], options))

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for index in (0, 1):
        for result in results[index]:
            np.testing.assert_array_equal(result, expected[index])


@pytest.mark.slow
def test_auto_precision_keeps_45_db_against_fp32(engine: Engine, fp32_engine: Engine) -> None:
    image = texture(64, 64, seed=9)
    auto = engine.upscale(image, EngineOptions())
    exact = fp32_engine.upscale(image, EngineOptions())
    assert psnr(as_float(auto), as_float(exact)) >= 45.0


def test_progress_reports_every_tile(engine: Engine) -> None:
    seen = []
    engine.upscale(texture(50, 50), EngineOptions(model=COMPACT, tile=20, tile_pad=4, batch_size=2),
                   progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (9, 9) and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8)])
def test_bad_arrays_are_refused(engine: Engine, bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        engine.upscale(bad, EngineOptions(model=COMPACT))
