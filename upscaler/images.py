"""Image bytes in, pixel arrays out, and back: the only place that knows file formats.

Pixels are NumPy arrays in OpenCV's layout: ``HxW`` (gray), ``HxWx3`` (BGR) or ``HxWx4`` (BGRA),
``uint8`` or ``uint16``. Decoding first reads only the header (Pillow) so that an image whose
declared size is over the limits is refused before a single pixel is decompressed; then OpenCV
decodes the pixels (it keeps 16-bit depth and alpha, which Pillow does not for colour), and
the EXIF orientation is applied so that a phone photo comes out the right way up.
Encoding writes to a file object (``encode_to``); PNG, the big one, is written strip by strip.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from upscaler.colour_management import (
    ColourHeader,
    OutputColour,
    SourceColour,
    check_policy,
    embedded_profile,
    from_srgb,
    output_colour,
    to_srgb,
)
from upscaler.errors import ImageTooLargeError, InvalidImageError
from upscaler.file_tags import FileTags, cmyk_jpeg_bytes, png_chunks, tag_jpeg, tag_webp, tiff_bytes
from upscaler.image_metadata import CarriedMetadata, exif_bytes, xmp_bytes
from upscaler.png import write_png

# We enforce our own, configurable, limits before decoding (see check_limits); Pillow's global
# bomb guard would otherwise raise its own error type for images our settings allow.
Image.MAX_IMAGE_PIXELS = None

# Pillow's format name -> our canonical format name.
_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff",
            "BMP": "bmp", "GIF": "gif"}
OUTPUT_FORMATS = ("png", "jpeg", "webp", "tiff")
EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp", "tiff": ".tif"}
INPUT_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"})
EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Limits:
    max_input_pixels: int
    max_output_pixels: int
    max_input_bytes: int


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    format: str
    orientation: int = 1


@dataclass
class DecodedImage:
    pixels: np.ndarray
    format: str
    # The input's colour (profile, whether the pixels were converted to sRGB, warnings) and the
    # metadata to carry to the output; pass it to encode_to(colour=...).
    colour: SourceColour = field(default_factory=SourceColour)

    @property
    def height(self) -> int:
        return self.pixels.shape[0]

    @property
    def width(self) -> int:
        return self.pixels.shape[1]

    @property
    def channels(self) -> int:
        return 1 if self.pixels.ndim == 2 else self.pixels.shape[2]

    @property
    def bit_depth(self) -> int:
        return 16 if self.pixels.dtype == np.uint16 else 8


def probe(data: bytes, source: str, limits: Limits | None = None, outscale: float = 4.0) -> ImageHeader:
    """Size, format and EXIF orientation from the header alone.

    With ``limits``, the declared size is checked as soon as it is known: before the frame
    count or EXIF are looked up, which for some formats means reading past the header.
    """
    if not data:
        raise InvalidImageError(f"{source}: empty file (0 bytes)")
    fmt = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:
                fmt = _FORMATS.get(img.format or "")
                if fmt is None:
                    raise InvalidImageError(f"{source}: unsupported image format {img.format}")
                if limits is not None:
                    check_limits(ImageHeader(img.size[0], img.size[1], fmt), outscale, limits, source)
                if getattr(img, "n_frames", 1) > 1 and fmt in {"gif", "webp", "png"}:
                    raise InvalidImageError(f"{source}: animated images are not supported "
                                            f"({img.n_frames} frames)")
                orientation = int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)
                width, height = img.size
    except UnidentifiedImageError:
        raise InvalidImageError(f"{source}: not a recognised raster image "
                                f"(starts with {data[:12]!r})") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's errors for corrupt headers
        kind = fmt.upper() if fmt else "image"
        raise InvalidImageError(f"{source}: corrupt or truncated {kind}: {exc}") from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageHeader(width, height, fmt, orientation if 1 <= orientation <= 8 else 1)


def check_limits(header: ImageHeader, outscale: float, limits: Limits, source: str) -> None:
    pixels = header.width * header.height
    if pixels > limits.max_input_pixels:
        raise ImageTooLargeError(
            f"{source}: {header.width}x{header.height} = {pixels:,} pixels is over the input "
            f"limit of {limits.max_input_pixels:,}"
        )
    out_pixels = round(header.width * outscale) * round(header.height * outscale)
    if out_pixels > limits.max_output_pixels:
        raise ImageTooLargeError(
            f"{source}: output of {out_pixels:,} pixels (x{outscale:g}) is over the output "
            f"limit of {limits.max_output_pixels:,}"
        )


def _verify_complete_jpeg(data: bytes, source: str) -> None:
    # libjpeg decodes a truncated file with only a warning, filling the rest with grey; Pillow
    # refuses it, which is what we want for a catalogue image.
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
    except OSError as exc:
        raise InvalidImageError(f"{source}: corrupt or truncated JPEG: {exc}") from exc


def apply_orientation(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip as EXIF orientation 1-8 says (the same transforms as Pillow's exif_transpose)."""
    swap = (1, 0, 2) if pixels.ndim == 3 else (1, 0)
    transforms = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(swap),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.transpose(swap)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    transform = transforms.get(orientation)
    return pixels if transform is None else np.ascontiguousarray(transform(pixels))


def decode(data: bytes, source: str, limits: Limits, outscale: float = 4.0, *, intent: str = "relative"
           ) -> DecodedImage:
    """Pixels of an image file in sRGB, refused with a clear error if it is not one or is too large.

    ``intent``: "relative" (relative colorimetric with black point compensation, the default) or
    "perceptual" (used where the input's profile has perceptual tables). Untagged and sRGB inputs
    are not converted. A corrupt or unusable profile is a warning in ``.colour.warnings``; a profile
    for other pixels than the image has raises ColourProfileError (an InvalidImageError).
    """
    check_policy("srgb", intent)
    if len(data) > limits.max_input_bytes:
        raise ImageTooLargeError(
            f"{source}: {len(data):,} bytes is over the limit of {limits.max_input_bytes:,}"
        )
    header = probe(data, source, limits, outscale)
    if header.format == "jpeg":
        _verify_complete_jpeg(data, source)
    colour_header, metadata = _colour_header(data)
    if colour_header.mode == "CMYK":
        pixels = _decode_cmyk(data, source, header.format)
    else:
        pixels = _decode_with_opencv(data, source, header.format)
    pixels, colour = to_srgb(pixels, colour_header, source, intent, metadata)
    return DecodedImage(apply_orientation(pixels, header.orientation), header.format, colour)


def _colour_header(data: bytes) -> tuple[ColourHeader, CarriedMetadata]:
    """The colour facts and carried metadata, from the header (probe has vetted the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as img:
            return ColourHeader.of(img), CarriedMetadata.read(img)


def _decode_with_opencv(data: bytes, source: str, fmt: str) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None or pixels.size == 0:
        raise InvalidImageError(f"{source}: corrupt or truncated {fmt.upper()} data")
    if pixels.dtype not in (np.uint8, np.uint16):
        raise InvalidImageError(f"{source}: {pixels.dtype} pixels are not supported (8 or 16 bit only)")
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.shape[2] == 2:  # gray + alpha
        pixels = cv2.cvtColor(pixels[:, :, 0], cv2.COLOR_GRAY2BGR), pixels[:, :, 1]
        pixels = np.dstack(pixels)
    return pixels


def _decode_cmyk(data: bytes, source: str, fmt: str) -> np.ndarray:
    """CMYK pixels (0 = no ink) as Pillow decodes them: it undoes Adobe's inverted CMYK and YCCK,
    which OpenCV turns into RGB with no profile at all."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.array(img)
    except (OSError, ValueError) as exc:
        raise InvalidImageError(f"{source}: corrupt or truncated {fmt.upper()} data: {exc}") from exc


def choose_format(requested: str, decoded: DecodedImage) -> str:
    """``auto`` keeps the input's format where it can hold the result (depth, alpha), else PNG."""
    if requested != "auto":
        if requested not in OUTPUT_FORMATS:
            raise ValueError(f"output format {requested!r}: choose one of auto, {', '.join(OUTPUT_FORMATS)}")
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


def encode(pixels: np.ndarray, fmt: str, quality: int = 95, *, colour: SourceColour | None = None,
           color_space: str = "srgb", keep_gps: bool = False) -> bytes:
    """Image file bytes; JPEG and WebP are 8-bit (and JPEG has no alpha: it is dropped).
    ``colour`` and the rest: as :func:`encode_to`."""
    buffer = io.BytesIO()
    encode_to(pixels, fmt, quality, buffer, colour=colour, color_space=color_space, keep_gps=keep_gps)
    return buffer.getvalue()


def encode_to(pixels: np.ndarray, fmt: str, quality: int, out: BinaryIO, *,
              colour: SourceColour | None = None, color_space: str = "srgb", keep_gps: bool = False) -> int:
    """Write the image file to ``out`` (a writable binary file object); the number of bytes written.

    ``pixels`` are sRGB (as decode gives and the engine keeps). With ``colour`` (the input's
    ``DecodedImage.colour``) the output is colour-tagged and carries the input's kept metadata:
    ``color_space="srgb"`` tags it sRGB (PNG: the sRGB chunk; others: an sRGB ICC profile);
    ``"keep"`` converts it to the input's profile and embeds that (see :func:`output_colour` for
    when that falls back to sRGB, with a warning). ``keep_gps``: copy the input's GPS position.
    Without ``colour`` the file is untagged, as before colour management.

    PNG is written in strips of rows, so that a huge output never exists twice in memory, nor
    as one encoded buffer; the other formats are encoded whole by OpenCV, then written from
    OpenCV's buffer without a copy (when untagged).
    """
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f"unknown output format {fmt!r}")
    if colour is None:
        check_policy(color_space)
        return _encode_plain(pixels, fmt, quality, out)
    target = output_colour(colour, pixels, color_space, fmt)
    pixels = from_srgb(pixels, target)
    tags = _file_tags(target, colour, pixels, fmt, keep_gps)
    return _encode_tagged(pixels, fmt, quality, out, tags, colour, cmyk=target.space == "CMYK")


def _file_tags(target: OutputColour, colour: SourceColour, pixels: np.ndarray, fmt: str, keep_gps: bool
               ) -> FileTags:
    # WebP stores gray as RGB, so it takes an RGB profile; gray JPEG, PNG and TIFF a gray one.
    icc = embedded_profile(target, gray=pixels.ndim == 2 and fmt != "webp")
    return FileTags(icc_profile=icc, icc_name=target.description, png_srgb=target.is_srgb,
                    exif=exif_bytes(colour.metadata, keep_gps), xmp=xmp_bytes(colour.metadata, keep_gps),
                    iptc_app13=colour.metadata.iptc_app13 if fmt == "jpeg" else None)


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
                   colour: SourceColour, cmyk: bool = False) -> int:
    if fmt == "png":
        return write_png(pixels, out, png_chunks(tags))
    if fmt == "tiff":
        meta = colour.metadata.ifd0
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
