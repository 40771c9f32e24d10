"""Color management: ICC profiles read, pixels converted to sRGB and back, outputs tagged.

``management`` decides what colour space an input is in and what an output is written in;
``lcms`` is LittleCMS (the library Pillow ships) called on NumPy arrays.
"""

from upscaler.imageio.color.management import (
    COLOR_SPACES,
    SRGB_DESCRIPTION,
    ColorProfileError,
    OutputColor,
    SourceColor,
    output_color,
    srgb_profile_bytes,
)

__all__ = ["COLOR_SPACES", "SRGB_DESCRIPTION", "ColorProfileError", "OutputColor", "SourceColor",
           "output_color", "srgb_profile_bytes"]
