"""Texture fidelity measures: detail ratio, spectral distance, and the inputs where they mislead."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from tests.support import SAMPLES
from upscaler.evaluation.image_metrics import (
    detail_ratio,
    jpeg_blockiness,
    luminance,
    psnr,
    radial_power_spectrum,
    spectral_distance,
    texture_caveats,
)


def gravel() -> np.ndarray:
    """A real photograph of a material (gray, 256 px, many levels)."""
    return cv2.imread(str(SAMPLES / "gravel.png"))


def coffee() -> np.ndarray:
    """A real colour photograph, 600x400, BGR."""
    return cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR)


def unsharp(image: np.ndarray, amount: float = 1.5, sigma: float = 1.0) -> np.ndarray:
    blurred = cv2.GaussianBlur(image.astype(np.float32), (0, 0), sigma)
    return np.clip(image + amount * (image - blurred), 0, 255).astype(np.uint8)


def floyd_steinberg_1bit(gray: np.ndarray) -> np.ndarray:
    """Error-diffusion dither to black and white, the classic way."""
    img = gray.astype(np.float64)
    height, width = img.shape
    for y in range(height):
        for x in range(width):
            new = 255.0 if img[y, x] >= 128 else 0.0
            err = img[y, x] - new
            img[y, x] = new
            if x + 1 < width:
                img[y, x + 1] += err * 7 / 16
            if y + 1 < height:
                if x > 0:
                    img[y + 1, x - 1] += err * 3 / 16
                img[y + 1, x] += err * 5 / 16
                if x + 1 < width:
                    img[y + 1, x + 1] += err * 1 / 16
    return img.astype(np.uint8)


# -- detail ratio and spectral distance ------------------------------------------------------------

def test_image_against_itself_is_exactly_right() -> None:
    for image in (gravel(), coffee()):
        assert detail_ratio(image, image) == 1.0
        assert spectral_distance(image, image) == 0.0


def test_blurred_texture_lost_detail_and_sharpened_gained() -> None:
    truth = gravel()
    blurred = cv2.GaussianBlur(truth, (0, 0), 1.5)
    sharpened = unsharp(truth)
    assert detail_ratio(blurred, truth) < 0.35          # most of the fine band is gone
    assert detail_ratio(sharpened, truth) > 1.5         # more than the truth: invented edges
    assert spectral_distance(blurred, truth) > 0.5      # upper-half power down by 3x and more
    assert 0.05 < spectral_distance(sharpened, truth) < spectral_distance(blurred, truth)


def test_more_blur_scores_monotonically_worse() -> None:
    truth = coffee()
    ratios = [detail_ratio(cv2.GaussianBlur(truth, (0, 0), s), truth) for s in (0.5, 1.0, 2.0)]
    distances = [spectral_distance(cv2.GaussianBlur(truth, (0, 0), s), truth) for s in (0.5, 1.0, 2.0)]
    assert ratios == sorted(ratios, reverse=True) and ratios[0] < 1
    assert distances == sorted(distances)


def test_measures_care_about_how_much_texture_not_where() -> None:
    """The same texture moved by a few pixels has the right amount of detail although PSNR is
    poor: a GAN's plausible but misplaced grain is not counted as loss."""
    truth = gravel()
    moved = np.roll(truth, (3, 5), axis=(0, 1))
    assert psnr(moved / 255.0, truth / 255.0) < 22
    assert detail_ratio(moved, truth) == pytest.approx(1.0, abs=0.05)
    assert spectral_distance(moved, truth) < 0.05


def test_layouts_agree_and_sizes_must_match() -> None:
    truth = coffee()[:128, :128]
    assert luminance(truth.astype(np.uint16) * 257) == pytest.approx(luminance(truth))
    assert luminance(truth.astype(np.float32) / 255) == pytest.approx(luminance(truth), abs=1e-6)
    with pytest.raises(ValueError, match="differ in size"):
        detail_ratio(truth, truth[:64])
    flat = np.full((64, 64), 128, np.uint8)
    assert detail_ratio(flat, flat) == 1.0 and detail_ratio(truth[:64, :64], flat) == float("inf")


def test_radial_spectrum_reaches_nyquist_and_peaks_at_a_stripe() -> None:
    x = np.arange(128)
    stripes = np.tile(0.5 + 0.4 * np.sin(2 * np.pi * 0.25 * x), (128, 1))  # 0.25 cycles/px
    freq, power = radial_power_spectrum(stripes)
    assert freq[0] == 0 and freq[-1] == pytest.approx(0.5)
    assert freq[int(np.argmax(power))] == pytest.approx(0.25, abs=1 / 128)


# -- where they mislead --------------------------------------------------------------------------

def test_photographs_are_not_flagged() -> None:
    for image in (gravel(), coffee(), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)):
        caveats = texture_caveats(image)
        assert not caveats.misleading, caveats


def test_palette_images_are_flagged() -> None:
    rgb = data.coffee()
    from PIL import Image

    for colors in (16, 256):
        quantised = np.asarray(Image.fromarray(rgb).quantize(colors).convert("RGB"))
        caveats = texture_caveats(quantised)
        assert caveats.palette and caveats.distinct_colors <= colors and "palette" in caveats.reasons()
    posterised = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) // 16) * 16  # 16 gray levels
    assert texture_caveats(posterised).palette
    # The bundled colour samples are 128 px palette images (<= 256 colours): flagged, rightly.
    assert texture_caveats(cv2.imread(str(SAMPLES / "colour" / "sandstone.png"))).palette


def test_dithered_images_are_flagged() -> None:
    gray = cv2.cvtColor(gravel(), cv2.COLOR_BGR2GRAY)[:96, :96]
    caveats = texture_caveats(floyd_steinberg_1bit(gray))
    assert caveats.dithered and caveats.levels_per_channel == 2 and caveats.pixel_scale_fraction > 0.3
    # Ordered (Bayer) dither of a colour photograph to 4 levels per channel.
    rgb = data.chelsea().astype(np.float64)
    bayer = np.array([[0, 8, 2, 10], [12, 4, 14, 6], [3, 11, 1, 9], [15, 7, 13, 5]]) / 16 - 0.5
    threshold = np.tile(bayer, (rgb.shape[0] // 4 + 1, rgb.shape[1] // 4 + 1))[: rgb.shape[0], : rgb.shape[1], None]
    ordered = np.clip(np.floor(rgb / 255 * 3 + 0.5 + threshold), 0, 3) / 3 * 255
    assert texture_caveats(ordered.astype(np.uint8)).dithered
    # A grainy photograph has a large pixel-scale share too, but far more levels.
    assert not texture_caveats(cv2.imread(str(SAMPLES / "grass.png"))).dithered


@pytest.mark.parametrize("quality", [30, 50])
def test_jpeg_blocked_truth_is_flagged_at_any_grid_offset(quality: int) -> None:
    truth = coffee()
    ok, encoded = cv2.imencode(".jpg", truth, [cv2.IMWRITE_JPEG_QUALITY, quality])
    blocked = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    assert texture_caveats(blocked).jpeg_blocking
    assert texture_caveats(blocked[3:, 5:]).jpeg_blocking  # a crop moves the 8x8 grid
    assert jpeg_blockiness(blocked) > 1.25
    assert jpeg_blockiness(truth) < 1.05 and not texture_caveats(truth).jpeg_blocking
