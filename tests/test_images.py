"""Decoding and encoding: formats, depths, orientation, limits and bad files."""

from __future__ import annotations

import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from tests.support import texture
from upscaler.imageio import formats as images
from upscaler.errors import ImageTooLargeError, InvalidImageError
from upscaler.imageio import DecodedImage, Limits, choose_format, decode, encode

LIMITS = Limits(max_input_pixels=10_000_000, max_output_pixels=160_000_000, max_input_bytes=10_000_000)


def pil_bytes(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height, with a few bytes of (invalid) data."""
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation: int) -> None:
    rgb = texture(24, 40, seed=orientation)
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = orientation
    data = pil_bytes(Image.fromarray(rgb), "PNG", exif=exif)
    decoded = decode(data, "photo.png", LIMITS)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    np.testing.assert_array_equal(decoded.pixels[:, :, ::-1], upright)
    assert (decoded.height, decoded.width) == upright.shape[:2]


def test_exif_rotated_jpeg_is_upright() -> None:
    exif = Image.Exif()
    exif[images.EXIF_ORIENTATION] = 6  # camera held sideways: stored 40 wide, shown 40 tall
    data = pil_bytes(Image.fromarray(texture(24, 40)), "JPEG", exif=exif, quality=95)
    assert decode(data, "phone.jpg", LIMITS).pixels.shape == (40, 24, 3)


def test_huge_declared_size_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_decode(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(cv2, "imdecode", must_not_decode)
    bomb = png_header_only(100_000, 100_000)
    assert len(bomb) < 200
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: 100000x100000 = 10,000,000,000 pixels"):
        decode(bomb, "bomb.png", LIMITS)


def test_output_limit_counts_the_scale() -> None:
    data = encode(texture(100, 100), "png")
    small_output = Limits(10_000_000, 100 * 100 * 16 - 1, 10_000_000)
    with pytest.raises(ImageTooLargeError, match="output of 160,000 pixels"):
        decode(data, "a.png", small_output, outscale=4)
    assert decode(data, "a.png", small_output, outscale=2).width == 100


def test_file_over_the_byte_limit_is_refused() -> None:
    with pytest.raises(ImageTooLargeError, match="bytes is over the limit"):
        decode(b"\0" * 101, "big.jpg", Limits(10**6, 10**8, 100))


def _truncated_jpeg() -> bytes:
    data = encode(texture(64, 64), "jpeg")
    return data[: len(data) // 2]


def _truncated_png() -> bytes:
    data = encode(texture(64, 64), "png")
    return data[: len(data) // 2]


def _animated_gif() -> bytes:
    frames = [Image.fromarray(texture(16, 16, seed=s)).convert("P") for s in range(3)]
    return pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])


@pytest.mark.parametrize("data,reason", [
    (b"", "empty file"),
    (b"<!DOCTYPE html><html><body>Not found</body></html>", "not a recognised raster image"),
    (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', "not a recognised raster image"),
    (_truncated_jpeg(), "truncated JPEG"),
    (_truncated_png(), "truncated PNG"),
    (_animated_gif(), "animated images are not supported"),
], ids=["empty", "html", "svg", "truncated-jpeg", "truncated-png", "animated-gif"])
def test_bad_files_get_a_clear_error_naming_the_input(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidImageError) as info:
        decode(data, "supplier/item 7.jpg", LIMITS)
    assert "supplier/item 7.jpg" in str(info.value) and reason in str(info.value)


@pytest.mark.parametrize("fmt", ["png", "tiff"])
def test_sixteen_bit_round_trip(fmt: str) -> None:
    pixels = texture(20, 30, seed=2, dtype=np.uint16)
    decoded = decode(encode(pixels, fmt), f"deep.{fmt}", LIMITS)
    assert decoded.bit_depth == 16
    np.testing.assert_array_equal(decoded.pixels, pixels)


def test_gray_alpha_png_becomes_bgra() -> None:
    gray = texture(10, 12, channels=1)
    alpha = np.full((10, 12), 77, np.uint8)
    data = pil_bytes(Image.fromarray(np.dstack([gray, alpha]), mode="LA"), "PNG")
    decoded = decode(data, "la.png", LIMITS)
    assert decoded.pixels.shape == (10, 12, 4)
    np.testing.assert_array_equal(decoded.pixels[:, :, 3], alpha)
    np.testing.assert_array_equal(decoded.pixels[:, :, 0], gray)


def test_auto_format_follows_the_input_where_it_can() -> None:
    def fake(fmt: str, shape, dtype=np.uint8) -> DecodedImage:
        return DecodedImage(np.zeros(shape, dtype), fmt)

    assert choose_format("auto", fake("jpeg", (4, 4, 3))) == "jpeg"
    assert choose_format("auto", fake("jpeg", (4, 4, 4))) == "png"        # JPEG has no alpha
    assert choose_format("auto", fake("webp", (4, 4, 3), np.uint16)) == "png"  # WebP is 8-bit
    assert choose_format("auto", fake("bmp", (4, 4))) == "png"
    assert choose_format("webp", fake("png", (4, 4, 3))) == "webp"
    with pytest.raises(ValueError):
        choose_format("gif", fake("png", (4, 4, 3)))


def test_jpeg_quality_is_applied() -> None:
    pixels = texture(64, 64)
    assert len(encode(pixels, "jpeg", quality=30)) < len(encode(pixels, "jpeg", quality=95))
