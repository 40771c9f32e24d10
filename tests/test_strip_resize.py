"""Another outscale than the network's: rows resized as they are finished (engine/strip_resize.py)
give what one resize of the whole image gives, without the whole image at the network's scale."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.memory import peak_bytes
from tests.support import texture
from upscaler.engine import Engine
from upscaler.engine import output_image as output_module
from upscaler.engine.strip_resize import StripResizer, resizable_in_strips
from upscaler.engine.options import EngineOptions


def resize_in_strips(image: np.ndarray, dst_height: int, dst_width: int, interpolation: int,
                     strip_rows: list[int]) -> np.ndarray:
    out = np.zeros((dst_height, dst_width) + image.shape[2:], image.dtype)
    sink = Rows(out)
    resizer = StripResizer(image.shape[0], image.shape[1], dst_height, dst_width, interpolation, sink)
    top, sizes = 0, iter(strip_rows)
    while top < image.shape[0]:
        rows = min(next(sizes, 64), image.shape[0] - top)
        resizer.write(top, image[top : top + rows])
        top += rows
    resizer.close()
    assert resizer.done and sink.closed and (sink.written == 1).all()  # every output row written once
    return out


class Rows:
    """A row sink into ``out`` that counts how often each row is written."""

    def __init__(self, out: np.ndarray) -> None:
        self.out, self.written, self.closed = out, np.zeros(out.shape[0], int), False

    def write(self, top: int, rows: np.ndarray) -> None:
        self.out[top : top + rows.shape[0]] = rows
        self.written[top : top + rows.shape[0]] += 1

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("src,dst,interpolation", [
    (400, 200, cv2.INTER_AREA),      # outscale 2 on a x4 model: 2 rows -> 1
    (400, 300, cv2.INTER_AREA),      # outscale 3: 4 -> 3, non-integer area weights
    (400, 100, cv2.INTER_AREA),      # outscale 1
    (400, 250, cv2.INTER_AREA),      # outscale 2.5: 8 -> 5
    (400, 800, cv2.INTER_LANCZOS4),  # outscale 8: 1 -> 2
    (400, 600, cv2.INTER_LANCZOS4),  # outscale 6: 2 -> 3
    (400, 550, cv2.INTER_LANCZOS4),  # outscale 5.5: 8 -> 11
])
@pytest.mark.parametrize("channels,dtype", [(3, np.uint8), (1, np.uint8), (3, np.uint16)], ids=["bgr", "gray", "bgr16"])
def test_strips_give_the_whole_image_resize(src: int, dst: int, interpolation: int, channels: int, dtype) -> None:
    image = texture(src, 96, channels, seed=src + dst, dtype=dtype)
    if channels == 1:
        image = image.reshape(src, 96)
    dst_width = round(96 * dst / src)
    expected = cv2.resize(image, (dst_width, dst), interpolation=interpolation)
    # 16-bit Lanczos computes in floats: a row's position may round differently in a block.
    tolerance = 1 if dtype == np.uint16 and interpolation == cv2.INTER_LANCZOS4 else 0
    for strips in ([64], [1, 7, 3, 50, 2], [400]):  # the assembler's strips, odd ones, all at once
        got = resize_in_strips(image, dst, dst_width, interpolation, strips * 100)
        difference = np.abs(got.astype(np.int64) - expected)
        assert difference.max() <= tolerance, f"strips {strips}: off by {difference.max()}"
        assert (difference > 0).mean() < 0.02, f"strips {strips}"


def test_rows_out_of_order_or_again_are_refused() -> None:
    """A stage sees each row once: a redo (engine.py) builds a new chain rather than replaying."""
    resizer = StripResizer(40, 10, 20, 5, cv2.INTER_AREA, Rows(np.zeros((20, 5), np.uint8)))
    resizer.write(0, np.zeros((8, 10), np.uint8))
    with pytest.raises(ValueError, match="expected row 8, got 16"):
        resizer.write(16, np.zeros((8, 10), np.uint8))
    with pytest.raises(ValueError, match="expected row 8, got 0"):
        resizer.write(0, np.zeros((8, 10), np.uint8))


def test_closing_before_the_last_row_fails() -> None:
    sink = Rows(np.zeros((20, 5), np.uint8))
    resizer = StripResizer(40, 10, 20, 5, cv2.INTER_AREA, sink)
    resizer.write(0, np.zeros((32, 10), np.uint8))
    with pytest.raises(RuntimeError, match="32 of 40 source rows"):
        resizer.close()
    assert not sink.closed


def test_ratios_with_a_long_period_are_left_to_a_whole_resize() -> None:
    assert resizable_in_strips(4000, 2000) and resizable_in_strips(4004, 3003)
    assert not resizable_in_strips(4004, 3303)   # outscale 3.3 on 1001 rows: no period under 256 rows


@pytest.fixture(scope="module")
def engine(zoo) -> Engine:
    return Engine(zoo, "cpu", "fp32")


@pytest.fixture(scope="module")
def device_path_engine(zoo) -> Engine:
    """Blending and levels on the torch device (the CUDA path), here on the CPU device."""
    return Engine(zoo, "cpu", "fp32", assemble_on_device=True)


@pytest.mark.parametrize("outscale", [2.0, 3.0, 6.0, 3.3])
@pytest.mark.parametrize("channels,alpha", [(3, "bicubic"), (1, "bicubic"), (4, "bicubic"), (4, "model")])
@pytest.mark.parametrize("seamless", [False, True])   # seamless: the padding's rows are dropped first
def test_engine_outscale_equals_resizing_the_network_scale_output(engine, tiny_rrdb, outscale: float,
                                                                   channels: int, alpha: str, seamless: bool) -> None:
    pixels = texture(61, 47, channels, seed=channels)
    if channels == 1:
        pixels = pixels.reshape(61, 47)
    options = EngineOptions(model=str(tiny_rrdb), tile=24, tile_pad=4, alpha=alpha, seamless=seamless)
    at_network_scale = engine.upscale(pixels, options)
    final = (round(47 * outscale), round(61 * outscale))
    expected = cv2.resize(at_network_scale, final, interpolation=cv2.INTER_AREA if outscale < 4 else cv2.INTER_LANCZOS4)
    got = engine.upscale(pixels, EngineOptions(model=str(tiny_rrdb), tile=24, tile_pad=4, alpha=alpha,
                                                seamless=seamless, outscale=outscale))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("outscale", [2.0, 6.0])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_device_path_rows_resize_the_same(device_path_engine, tiny_rrdb, outscale: float, dtype) -> None:
    pixels = texture(70, 52, 4, seed=9, dtype=dtype)
    options = EngineOptions(model=str(tiny_rrdb), tile=32, tile_pad=4, alpha="model")
    final = (round(52 * outscale), round(70 * outscale))
    interpolation = cv2.INTER_AREA if outscale < 4 else cv2.INTER_LANCZOS4
    expected = cv2.resize(device_path_engine.upscale(pixels, options), final, interpolation=interpolation)
    got = device_path_engine.upscale(pixels, EngineOptions(model=str(tiny_rrdb), tile=32, tile_pad=4,
                                                            alpha="model", outscale=outscale))
    tolerance = 1 if dtype == np.uint16 and outscale > 4 else 0   # see test_strips_give_the_whole_image_resize
    assert np.abs(got.astype(np.int64) - expected).max() <= tolerance


def test_outscale_two_never_holds_the_network_scale_output(engine, tiny_srvgg, monkeypatch) -> None:
    pixels = texture(600, 300, seed=5)
    options = EngineOptions(model=str(tiny_srvgg), tile=64, tile_pad=8, outscale=2.0)
    engine.upscale(pixels[:64, :64], options)    # loads the model outside the measurement
    in_strips = peak_bytes(lambda: engine.upscale(pixels, options))
    monkeypatch.setattr(output_module, "resizable_in_strips", lambda *sizes: False)  # as before
    whole = peak_bytes(lambda: engine.upscale(pixels, options))
    network_scale_output, final_output = 2400 * 1200 * 3, 1200 * 600 * 3   # 8.6 and 2.2 MB
    # Both hold the final output and the tile assembler's float bands; before, the whole output at
    # the network's scale too, instead of a few of its strips.
    saved = whole - in_strips
    assert saved > 0.75 * (network_scale_output - final_output), f"{in_strips / 1e6:.1f} vs {whole / 1e6:.1f} MB"
