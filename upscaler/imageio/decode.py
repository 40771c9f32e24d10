"""Image bytes in, sRGB pixel arrays out, refused early when too large or not an image.

Decoding first reads only the header (Pillow) so that an image whose declared size is over the
limits is refused before a single pixel is decompressed; then OpenCV decodes the pixels (it keeps
16-bit depth and alpha, which Pillow does not for colour), the pixels are converted to sRGB
through the input's colour profile, and the EXIF orientation is applied so that a phone photo
comes out the right way up.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from upscaler.errors import ImageTooLargeError, InvalidImageError
from upscaler.imageio.color.management import ColorHeader, check_policy, to_srgb
from upscaler.imageio.formats import EXIF_ORIENTATION, PILLOW_FORMATS, DecodedImage, ImageHeader, Limits
from upscaler.imageio.metadata import CarriedMetadata


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
                fmt = PILLOW_FORMATS.get(img.format or "")
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
    for other pixels than the image has raises ColorProfileError (an InvalidImageError).
    """
    check_policy("srgb", intent)
    if len(data) > limits.max_input_bytes:
        raise ImageTooLargeError(
            f"{source}: {len(data):,} bytes is over the limit of {limits.max_input_bytes:,}"
        )
    header = probe(data, source, limits, outscale)
    if header.format == "jpeg":
        _verify_complete_jpeg(data, source)
    color_header, metadata = _color_header(data)
    if color_header.mode == "CMYK":
        pixels = _decode_cmyk(data, source, header.format)
    else:
        pixels = _decode_with_opencv(data, source, header.format)
    pixels, color = to_srgb(pixels, color_header, source, intent, metadata)
    return DecodedImage(apply_orientation(pixels, header.orientation), header.format, color)


def _color_header(data: bytes) -> tuple[ColorHeader, CarriedMetadata]:
    """The colour facts and carried metadata, from the header (probe has vetted the file)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(io.BytesIO(data)) as img:
            return ColorHeader.of(img), CarriedMetadata.read(img)


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


