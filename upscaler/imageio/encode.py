"""sRGB pixel arrays out to image files: PNG, JPEG, WebP, TIFF, tagged with their colour space.

Encoding writes to a file object (``encode_to``); PNG, the big one, is written strip by strip.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import cv2
import numpy as np

from upscaler.errors import InvalidImageError, InvalidParameters
from upscaler.imageio.color.management import (
    OutputColor,
    SourceColor,
    check_policy,
    embedded_profile,
    from_srgb,
    output_color,
)
from upscaler.imageio.file_tags import FileTags, cmyk_jpeg_bytes, png_chunks, tag_jpeg, tag_webp, tiff_bytes
from upscaler.imageio.formats import OUTPUT_FORMATS, DecodedImage
from upscaler.imageio.metadata import exif_bytes, xmp_bytes
from upscaler.imageio.png import write_png


def choose_format(requested: str, decoded: DecodedImage) -> str:
    """``auto`` keeps the input's format where it can hold the result (depth, alpha), else PNG."""
    if requested != "auto":
        if requested not in OUTPUT_FORMATS:
            raise InvalidParameters(f"output format {requested!r}: choose one of auto, {', '.join(OUTPUT_FORMATS)}")
        return requested
    fmt = decoded.format if decoded.format in OUTPUT_FORMATS else "png"
    if fmt == "jpeg" and (decoded.bit_depth == 16 or decoded.channels == 4):
        return "png"
    if fmt == "webp" and decoded.bit_depth == 16:
        return "png"
    return fmt


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    return ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str, quality: int = 95, *, color: SourceColor | None = None,
           color_space: str = "srgb", keep_gps: bool = False) -> bytes:
    """Image file bytes; JPEG and WebP are 8-bit (and JPEG has no alpha: it is dropped).
    ``colour`` and the rest: as :func:`encode_to`."""
    buffer = io.BytesIO()
    encode_to(pixels, fmt, quality, buffer, color=color, color_space=color_space, keep_gps=keep_gps)
    return buffer.getvalue()


def encode_to(pixels: np.ndarray, fmt: str, quality: int, out: BinaryIO, *,
              color: SourceColor | None = None, color_space: str = "srgb", keep_gps: bool = False) -> int:
    """Write the image file to ``out`` (a writable binary file object); the number of bytes written.

    ``pixels`` are sRGB (as decode gives and the engine keeps). With ``colour`` (the input's
    ``DecodedImage.color``) the output is colour-tagged and carries the input's kept metadata:
    ``color_space="srgb"`` tags it sRGB (PNG: the sRGB chunk; others: an sRGB ICC profile);
    ``"keep"`` converts it to the input's profile and embeds that (see :func:`output_colour` for
    when that falls back to sRGB, with a warning). ``keep_gps``: copy the input's GPS position.
    Without ``colour`` the file is untagged, as before colour management.

    PNG is written in strips of rows, so that a huge output never exists twice in memory, nor
    as one encoded buffer; the other formats are encoded whole by OpenCV, then written from
    OpenCV's buffer without a copy (when untagged).
    """
    if fmt not in OUTPUT_FORMATS:
        raise InvalidParameters(f"unknown output format {fmt!r}")
    if color is None:
        check_policy(color_space)
        return _encode_plain(pixels, fmt, quality, out)
    target = output_color(color, pixels, color_space, fmt)
    pixels = from_srgb(pixels, target)
    tags = _file_tags(target, color, pixels, fmt, keep_gps)
    return _encode_tagged(pixels, fmt, quality, out, tags, color, cmyk=target.space == "CMYK")


def _file_tags(target: OutputColor, color: SourceColor, pixels: np.ndarray, fmt: str, keep_gps: bool
               ) -> FileTags:
    # WebP stores gray as RGB, so it takes an RGB profile; gray JPEG, PNG and TIFF a gray one.
    icc = embedded_profile(target, gray=pixels.ndim == 2 and fmt != "webp")
    return FileTags(icc_profile=icc, icc_name=target.description, png_srgb=target.is_srgb,
                    exif=exif_bytes(color.metadata, keep_gps), xmp=xmp_bytes(color.metadata, keep_gps),
                    iptc_app13=color.metadata.iptc_app13 if fmt == "jpeg" else None)


def _encode_plain(pixels: np.ndarray, fmt: str, quality: int, out: BinaryIO) -> int:
    if fmt == "png":
        return write_png(pixels, out)
    buf = _opencv_encode(pixels, fmt, quality)
    out.write(memoryview(buf).cast("B"))
    return buf.size


def _opencv_encode(pixels: np.ndarray, fmt: str, quality: int) -> np.ndarray:
    if fmt == "jpeg":
        if pixels.ndim == 3 and pixels.shape[2] == 4:
            pixels = pixels[:, :, :3]
        ok, buf = cv2.imencode(".jpg", to_8bit(pixels), [cv2.IMWRITE_JPEG_QUALITY, quality])
    elif fmt == "webp":
        ok, buf = cv2.imencode(".webp", to_8bit(pixels), [cv2.IMWRITE_WEBP_QUALITY, quality])
    else:
        ok, buf = cv2.imencode(".tif", pixels)
    if not ok:
        raise InvalidImageError(f"could not encode a {pixels.shape} {pixels.dtype} image as {fmt}")
    return buf


def _encode_tagged(pixels: np.ndarray, fmt: str, quality: int, out: BinaryIO, tags: FileTags,
                   color: SourceColor, cmyk: bool = False) -> int:
    if fmt == "png":
        return write_png(pixels, out, png_chunks(tags))
    if fmt == "tiff":
        meta = color.metadata.ifd0
        data = tiff_bytes(pixels, tags, meta.get(0x013B), meta.get(0x8298), meta.get(0x010E), cmyk)
    elif fmt == "jpeg" and cmyk:
        data = tag_jpeg(cmyk_jpeg_bytes(to_8bit(pixels), quality), tags)
    elif fmt == "jpeg":
        data = tag_jpeg(_opencv_encode(pixels, fmt, quality), tags)
    else:
        alpha = pixels.ndim == 3 and pixels.shape[2] == 4
        data = tag_webp(_opencv_encode(pixels, fmt, quality), tags, pixels.shape[1], pixels.shape[0], alpha)
    out.write(data)
    return len(data)
