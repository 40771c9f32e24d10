"""One base-colour image in, a PBR map set out, one finished map at a time.

``MaterialMaps(pixels, options)`` is iterated: each map is computed, handed to the caller (who
writes it out and lets it go) and dropped before the next one starts, so a 4096x4096 set never
holds more than a few full-size float32 planes (luminance, height, and the current map's
working planes). Warnings (unknown category, untextured image) are collected on the object,
never raised: a job with an odd input still gets its maps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from upscaler.materials import maps
from upscaler.materials.options import MapOptions


@dataclass(eq=False)
class MaterialMap:
    """One finished map: ``pixels`` in OpenCV's layout (BGR(A) for colour), uint8 or uint16.

    ``colorspace`` is ``srgb`` for the base colour and ``linear`` for data maps (what glTF,
    MaterialX and the preview declare for the file).
    """

    name: str
    pixels: np.ndarray
    colorspace: Literal["srgb", "linear"] = "linear"

    @property
    def filename(self) -> str:
        return f"{self.name}.png"


@dataclass(eq=False)
class MaterialMaps:
    """Iterate to get the maps one by one (see the module docstring); ``warnings`` fills as they go.

    ``pixels``: the base colour, HxW, HxWx3 (BGR) or HxWx4 (BGRA), uint8 or uint16, sRGB.
    """

    pixels: np.ndarray
    options: MapOptions = field(default_factory=MapOptions)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.pixels.dtype not in (np.uint8, np.uint16) or self.pixels.ndim not in (2, 3) or min(self.pixels.shape[:2]) < 2:
            raise ValueError(f"a base colour must be uint8 or uint16 HxW[xC] of at least 2x2, "
                             f"not {self.pixels.shape} {self.pixels.dtype}")
        self.preset, warnings = self.options.resolved()
        self.warnings.extend(warnings)
        self.flat = False

    @property
    def has_metallic(self) -> bool:
        return self.preset.metallic and "metallic" in self.options.maps

    def __iter__(self) -> Iterator[MaterialMap]:
        opts, preset = self.options, self.preset
        wanted = set(opts.maps)
        base = maps.delight(self.pixels, opts.seamless) if opts.delight else self.pixels
        if "basecolor" in wanted:
            yield MaterialMap("basecolor", base, "srgb")
        alpha = maps.opacity(base)
        size = opts.reference_px or max(base.shape[:2])
        slope_px = preset.depth * size

        lum = maps.luminance(base)
        if opts.invert_height:
            np.subtract(1, lum, out=lum)
        maps.fill_transparent(lum, alpha)
        height, self.flat = maps.height_map(lum, preset.height_weights, opts.seamless, alpha, size)
        if self.flat:
            self.warnings.append("the image has almost no texture (flat colour?): the maps are kept flat, "
                                 "not noise stretched to the full range")
        if "height" in wanted:
            yield MaterialMap("height", maps.to_uint(height, 16))
        if "normal" in wanted:
            normal = maps.normal_map(height, slope_px * opts.normal_strength, opts.seamless,
                                     opts.normal_convention, opts.normal_bits)
            yield MaterialMap("normal", normal)
            if opts.opengl_normal_copy and opts.normal_convention == "directx":
                yield MaterialMap("normal_opengl", maps.flip_green(normal.copy()))
            del normal
        packed = {}
        if "ao" in wanted or opts.orm:
            ao = maps.ambient_occlusion(height, slope_px, preset.ao_radius * size, opts.seamless)
            maps.mask_towards(ao, alpha, 1.0)
            packed["ao"] = ao8 = maps.to_uint(ao, 8)
            del ao
            if "ao" in wanted:
                yield MaterialMap("ao", ao8)
        del height
        if "roughness" in wanted or opts.orm:
            rough = maps.roughness_map(lum, preset.roughness, preset.roughness_range, preset.rough_when_dark,
                                       preset.rough_when_detailed, opts.seamless, alpha, size)
            packed["roughness"] = rough8 = maps.to_uint(rough, 8)
            del rough
            if "roughness" in wanted:
                yield MaterialMap("roughness", rough8)
        del lum
        if self.has_metallic or (opts.orm and preset.metallic):
            packed["metallic"] = metal8 = maps.to_uint(maps.metallic_map(base, alpha), 8)
            if self.has_metallic:
                yield MaterialMap("metallic", metal8)
        if opts.orm:
            zeros = np.zeros(base.shape[:2], np.uint8)
            # BGR order: B = metallic, G = roughness, R = occlusion.
            yield MaterialMap("orm", np.dstack([packed.get("metallic", zeros), packed["roughness"], packed["ao"]]))
