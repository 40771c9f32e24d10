"""Image files in and out: the only part of the project that knows file formats and colour profiles.

Decoding gives sRGB pixel arrays (OpenCV layout, 8 or 16 bit) with the input's colour description
and kept metadata beside them; encoding writes those pixels to PNG, JPEG, WebP or TIFF, tagged with
their colour space. The rest of the project uses the names below; the modules behind them:
``formats`` (formats, limits, the decoded image), ``decode``, ``encode``, ``png`` (strip-wise PNG),
``file_tags`` (profiles and metadata in encoded files), ``metadata`` (what an output keeps) and
``color`` (ICC profiles through LittleCMS).
"""

from upscaler.imageio.color import ColorProfileError, SourceColor, output_color, srgb_profile_bytes
from upscaler.imageio.decode import apply_orientation, check_limits, decode, probe
from upscaler.imageio.encode import choose_format, encode, encode_to, to_8bit
from upscaler.imageio.formats import (
    EXIF_ORIENTATION,
    EXTENSIONS,
    INPUT_SUFFIXES,
    OUTPUT_FORMATS,
    DecodedImage,
    ImageHeader,
    Limits,
)
from upscaler.imageio.png import set_png_threads, write_png

__all__ = [
    "EXIF_ORIENTATION", "EXTENSIONS", "INPUT_SUFFIXES", "OUTPUT_FORMATS", "ColorProfileError",
    "DecodedImage", "ImageHeader", "Limits", "SourceColor", "apply_orientation", "check_limits",
    "choose_format", "decode", "encode", "encode_to", "output_color", "probe", "set_png_threads",
    "srgb_profile_bytes", "to_8bit", "write_png",
]
