"""What the image I/O layer knows about formats, limits and decoded images (no codecs here).

Pixels are NumPy arrays in OpenCV's layout: ``HxW`` (gray), ``HxWx3`` (BGR) or ``HxWx4`` (BGRA),
``uint8`` or ``uint16``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from upscaler.image_suffixes import EXTENSIONS, INPUT_SUFFIXES, OUTPUT_FORMATS
from upscaler.imageio.color.management import SourceColor

# We enforce our own, configurable, limits before decoding (see check_limits); Pillow's global
# bomb guard would otherwise raise its own error type for images our settings allow.
Image.MAX_IMAGE_PIXELS = None

# Pillow's format name -> our canonical format name.
PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "WEBP": "webp", "TIFF": "tiff",
            "BMP": "bmp", "GIF": "gif"}
EXIF_ORIENTATION = 0x0112
__all__ = ["EXIF_ORIENTATION", "EXTENSIONS", "INPUT_SUFFIXES", "OUTPUT_FORMATS", "PILLOW_FORMATS", "DecodedImage",
           "ImageHeader", "Limits"]


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
    # metadata to carry to the output; pass it to encode_to(color=...).
    color: SourceColor = field(default_factory=SourceColor)

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


