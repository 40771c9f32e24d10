"""Seamless mode and the alpha channel fill the result as rows arrive (engine/output_image.py):
the same pixels as upscaling the wrap-padded image and cutting its centre out, without the padded
output ever being whole; tiled, the same as the whole padded image up to what the tiles' context
misses. Seamless mode at another outscale: tests/test_strip_resize.py. Against the real model's
ideal: tests/test_seamless_ideal.py."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.memory import peak_bytes
from tests.support import texture
from upscaler.engine import Engine
from upscaler.engine.engine import SEAMLESS_PAD
from upscaler.engine.preserve_color import preserve_color
from upscaler.engine.strip_resize import resize_in_strips
from upscaler.engine.options import EngineOptions


@pytest.fixture(scope="module")
def engine(zoo) -> Engine:
    return Engine(zoo, "cpu", "fp32")


def wrapped(pixels: np.ndarray, tile_pad: int) -> tuple[np.ndarray, int]:
    pad = min(max(tile_pad, SEAMLESS_PAD), *pixels.shape[:2])
    return np.pad(pixels, ((pad, pad), (pad, pad)) + ((0, 0),) * (pixels.ndim - 2), mode="wrap"), pad


def image(channels: int, dtype=np.uint8, height: int = 61, width: int = 47) -> np.ndarray:
    pixels = texture(height, width, channels, seed=channels, dtype=dtype)
    return pixels.reshape(height, width) if channels == 1 else pixels


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels,alpha", [(1, "bicubic"), (3, "bicubic"), (4, "bicubic"), (4, "model")])
def test_seamless_is_the_centre_of_the_wrapped_image_upscaled(engine, tiny_rrdb, channels, alpha, dtype) -> None:
    pixels = image(channels, dtype)
    plain = EngineOptions(model=str(tiny_rrdb), tile=0, alpha=alpha)   # one window: the plans agree exactly
    padded, pad = wrapped(pixels, plain.tile_pad)
    expected = engine.upscale(padded, plain)[pad * 4 : (pad + 61) * 4, pad * 4 : (pad + 47) * 4]
    got = engine.upscale(pixels, EngineOptions(model=str(tiny_rrdb), tile=0, alpha=alpha, seamless=True))
    assert got.shape == (244, 188) + pixels.shape[2:] and got.dtype == dtype and got.flags.c_contiguous
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("outscale", [4.0, 2.0])
def test_the_device_path_cuts_the_same_centre(zoo, tiny_rrdb, outscale) -> None:
    """Blending and levels on the torch device (the CUDA path), here on the CPU device."""
    engine = Engine(zoo, "cpu", "fp32", assemble_on_device=True)
    pixels = image(4, np.uint16)
    plain = EngineOptions(model=str(tiny_rrdb), tile=0, alpha="model")
    padded, pad = wrapped(pixels, plain.tile_pad)
    expected = engine.upscale(padded, plain)[pad * 4 : (pad + 61) * 4, pad * 4 : (pad + 47) * 4]
    if outscale != 4:
        expected = cv2.resize(expected, (round(47 * outscale), round(61 * outscale)), interpolation=cv2.INTER_AREA)
    got = engine.upscale(pixels, EngineOptions(model=str(tiny_rrdb), tile=0, alpha="model", seamless=True,
                                           outscale=outscale))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("outscale", [4.0, 2.0])
def test_seamless_color_fix_still_looks_across_the_seam(engine, tiny_rrdb, outscale) -> None:
    """The colour fix runs on the whole padded output, with the padded input, then the centre is cut."""
    pixels = image(3)
    plain = EngineOptions(model=str(tiny_rrdb), tile=0)
    padded, pad = wrapped(pixels, plain.tile_pad)
    fixed = preserve_color(padded, engine.upscale(padded, plain))
    expected = fixed[pad * 4 : (pad + 61) * 4, pad * 4 : (pad + 47) * 4]
    if outscale != 4:
        expected = cv2.resize(expected, (round(47 * outscale), round(61 * outscale)), interpolation=cv2.INTER_AREA)
    got = engine.upscale(pixels, EngineOptions(model=str(tiny_rrdb), tile=0, seamless=True, preserve_color=True,
                                           outscale=outscale))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("rows", [1, 7, 64, 500])
def test_an_alpha_plane_enlarged_in_strips_is_one_bicubic_resize(dtype, rows) -> None:
    plane = texture(203, 91, 1, seed=3, dtype=dtype).reshape(203, 91)
    out = np.zeros((812, 364), dtype)
    written = np.zeros(812, int)
    closed = []

    class Rows:
        def write(self, top: int, strip: np.ndarray) -> None:
            out[top : top + strip.shape[0]] = strip
            written[top : top + strip.shape[0]] += 1

        def close(self) -> None:
            closed.append(True)

    resize_in_strips(plane, 812, 364, cv2.INTER_CUBIC, Rows(), rows=rows)
    assert (written == 1).all() and closed == [True]
    np.testing.assert_array_equal(out, cv2.resize(plane, (364, 812), interpolation=cv2.INTER_CUBIC))


def test_seamless_never_holds_the_padded_output(engine, tiny_srvgg) -> None:
    """Seamless mode holds more than a plain run, but nothing that grows with the image: the padded
    input, and float rows one seamless window high (64 px of context around each core) across the
    padded width. So its memory grows with the image's height as a plain run's does (by the output
    and the input), not by the padded output's growth. A bound on the difference at one size cannot
    tell the two apart: at this width one window of float rows is about as large as the extra a
    held padded output would take."""
    def peak(height: int, seamless: bool) -> int:
        options = EngineOptions(model=str(tiny_srvgg), tile=128, tile_pad=4, seamless=seamless)
        pixels = texture(height, 150, seed=5)
        return peak_bytes(lambda: engine.upscale(pixels, options))

    engine.upscale(texture(64, 64, seed=5), EngineOptions(model=str(tiny_srvgg), tile=128, tile_pad=4))  # loads it
    plain_growth = peak(2400, False) - peak(1200, False)
    seamless_growth = peak(2400, True) - peak(1200, True)
    padded_output_growth = 1200 * 4 * (150 + 2 * SEAMLESS_PAD) * 4 * 3   # 16.0 MB
    # Measured: 1.6 MB more. Holding the padded output whole and then a copy of its centre (as
    # this mode once did) adds 8.9 MB, over twice the growth allowed.
    assert seamless_growth - plain_growth < 0.25 * padded_output_growth, \
        f"grew by {seamless_growth / 1e6:.1f} MB vs {plain_growth / 1e6:.1f} MB"
