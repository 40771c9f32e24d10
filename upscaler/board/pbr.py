"""Is a base colour plausible for physically based rendering? A check, never a correction.

A base colour (albedo) is the share of light a surface reflects with the lighting taken out.
Real non-metals reflect between about 4% (charcoal, fresh asphalt) and about 90% (fresh snow) of
the light; a photo's baked shadows and highlights reach below and above that, and renderers
then make the material look wrong (black holes that never light up, surfaces that glow). The
limits below are the ones Substance's validators use (Adobe Substance 3D Designer, "PBR
BaseColor / Metallic Validate"; the same checks are Sampler's and Painter's "PBR Validate"):

- non-metal, too dark: below 50 sRGB (the validator's default; its lenient setting is 30 sRGB,
  ``LENIENT_DARK``);
- non-metal, too bright: above 240 sRGB (the limit of Allegorithmic's "The PBR Guide", part 2);
- metal: reflectance below 70% is implausible for bare metal, 180 sRGB (the validator's
  default "70-100% reflective"; its lenient setting is 60%, 155 sRGB).

A pixel's value is its luminance (Rec. 709, in linear light) expressed as an 8-bit sRGB level,
so a saturated red counts by its brightness, not its darkest channel. Which pixels are metal:
none, unless the category is ``metal``; then the materials' metallic map decides (grey-ish
pixels are bare metal, coloured ones rust or paint). Transparent pixels (alpha < 0.5) do not count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from upscaler.materials.filtering import strip_rows
from upscaler.materials.maps import color_planes, max_value, metallic_map, opacity, srgb_to_linear

DARK = 50            # sRGB level: darker non-metal pixels are out of range
LENIENT_DARK = 30    # the validators' lenient dark limit, for reference
BRIGHT = 240         # sRGB level: brighter non-metal pixels are out of range
METAL_LOW = 180      # sRGB level (70% reflectance): darker metal pixels are out of range
WARN_SHARE = 0.02    # a warning when more than this share of the pixels is out of range
METAL_CATEGORIES = frozenset({"metal"})


@dataclass(frozen=True)
class PbrCheck:
    """Shares (0..1) of the counted pixels: too dark / too bright for a non-metal, too dark for a
    metal; ``metal``: the share taken as bare metal; ``limits``: the sRGB levels used."""

    too_dark: float
    too_bright: float
    metal_too_dark: float
    metal: float
    pixels: int

    @property
    def out_of_range(self) -> float:
        return self.too_dark + self.too_bright + self.metal_too_dark

    def warning(self) -> str | None:
        """A sentence for the job's warnings, or None when at most WARN_SHARE is out of range."""
        if self.out_of_range <= WARN_SHARE:
            return None
        parts = []
        if self.too_dark:
            parts.append(f"{self.too_dark:.1%} darker than {DARK} sRGB")
        if self.too_bright:
            parts.append(f"{self.too_bright:.1%} brighter than {BRIGHT} sRGB")
        if self.metal_too_dark:
            parts.append(f"{self.metal_too_dark:.1%} of metal below {METAL_LOW} sRGB (70% reflectance)")
        return (f"base colour outside the physically plausible range on {self.out_of_range:.1%} of the pixels "
                f"({', '.join(parts)}): baked shadows or highlights? (a check, nothing was changed)")

    def as_dict(self) -> dict:
        return {**asdict(self), "out_of_range": self.out_of_range,
                "limits": {"dark": DARK, "bright": BRIGHT, "metal_low": METAL_LOW}}


def check_pbr(pixels: np.ndarray, category: str = "other") -> PbrCheck:
    """Count the base colour's pixels outside the plausible ranges (see the module docstring).
    ``pixels``: gray, BGR or BGRA, uint8/uint16, sRGB-encoded; read in strips of rows."""
    metal_share = metallic_map(pixels, opacity(pixels)) if category in METAL_CATEGORIES else None
    levels = _luminance_levels()
    counts = np.zeros(4)   # counted, too dark, too bright, metal too dark
    metal_total = 0.0
    step = strip_rows(pixels.shape[1])
    for top in range(0, pixels.shape[0], step):
        strip = pixels[top:top + step]
        color = color_planes(strip).astype(np.float32) / np.float32(max_value(pixels))
        lin = srgb_to_linear(color)
        lum = lin @ np.float32([0.0722, 0.7152, 0.2126]) if lin.ndim == 3 else lin   # BGR, Rec. 709
        alpha = opacity(strip)
        counted = np.ones(lum.shape, bool) if alpha is None else alpha >= 0.5
        metal = np.zeros(lum.shape, bool) if metal_share is None else metal_share[top:top + step] >= 0.5
        dark, bright, metal_dark = levels
        counts += [counted.sum(), (counted & ~metal & (lum < dark)).sum(), (counted & ~metal & (lum > bright)).sum(),
                   (counted & metal & (lum < metal_dark)).sum()]
        metal_total += float((counted & metal).sum())
    total = max(counts[0], 1)
    return PbrCheck(float(counts[1] / total), float(counts[2] / total), float(counts[3] / total),
                    metal_total / total, int(counts[0]))


def _luminance_levels() -> tuple[float, float, float]:
    """The sRGB limits as linear luminances (the comparison runs in linear light)."""
    return tuple(float(srgb_to_linear(np.float32(level / 255))) for level in (DARK, BRIGHT, METAL_LOW))
