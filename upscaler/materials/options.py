"""What the material-map pipeline is asked for: which maps, and how (pipeline.py makes them).

Kept apart from the pipeline (NumPy, OpenCV) so that a job's request can carry it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from upscaler.errors import InvalidParameters
from upscaler.materials.controls import CONTROL_NAMES, MapControls
from upscaler.materials.names import MAP_NAMES
from upscaler.materials.presets import Preset, preset_for


@dataclass(frozen=True)
class MapOptions:
    """What to make and how; ``None`` fields take the category's preset (see presets.py).

    category: wood, stone, tile, fabric, carpet, leather, metal, concrete, wallpaper, brick,
        glass or other; anything else uses ``other`` and adds a warning.
    seamless: the image is a tile: every filter wraps around its borders, so the maps tile too.
        Without it borders are mirrored, and the maps' opposite edges need not match.
    delight: remove the photo's large-scale shading from the base colour (and so from the maps).
    normal_convention: ``opengl`` (+Y up; glTF, Blender, three.js) or ``directx`` (green inverted).
    normal_bits: 8 or 16 bits per channel for the normal map.
    normal_strength: multiplies the relief depth for the normals only (1 = the preset's depth).
    depth: relief depth of the height's full range, fraction of the longer side (normals and AO).
    ao_radius: how far AO looks for surrounding relief, fraction of the longer side.
    height_weights: (fine, medium, coarse) band weights of the height.
    roughness: mean roughness, 0..1.
    roughness_range: how far roughness may move around its mean (+-), 0..1.
    metallic: write a metallic map (the ``metal`` preset does).
    invert_height: the recesses are lighter than the surface (light mortar or grout between dark
        bricks or tiles): height, AO and roughness read the luminance upside down.
    reference_px: the length (px) that the scale and depth fractions refer to; default the longer
        side. Give the same value to images of the same physical size so their maps match.
    maps: which of MAP_NAMES to produce, in that order.
    orm: also produce ``orm`` (glTF's packing: R = AO, G = roughness, B = metallic, 8-bit).
    opengl_normal_copy: with ``directx``, also produce ``normal_opengl`` (glTF needs +Y up).
    """

    category: str = "other"
    seamless: bool = False
    delight: bool = False
    normal_convention: Literal["opengl", "directx"] = "opengl"
    normal_bits: Literal[8, 16] = 8
    normal_strength: float = 1.0
    depth: float | None = None
    ao_radius: float | None = None
    height_weights: tuple[float, float, float] | None = None
    roughness: float | None = None
    roughness_range: float | None = None
    metallic: bool | None = None
    invert_height: bool = False
    reference_px: int | None = None
    maps: tuple[str, ...] = MAP_NAMES
    orm: bool = False
    opengl_normal_copy: bool = False

    def __post_init__(self) -> None:
        if self.normal_convention not in ("opengl", "directx"):
            raise InvalidParameters(f"normal_convention must be 'opengl' or 'directx', not {self.normal_convention!r}")
        # The fields a person may set (the map controls) are checked, and spelled, as controls.
        for name, value in self.controls.map_options().items():
            object.__setattr__(self, name, value)
        unknown = set(self.maps) - set(MAP_NAMES)
        if unknown:
            raise InvalidParameters(f"unknown maps {sorted(unknown)}; known: {', '.join(MAP_NAMES)}")

    def __bool__(self) -> bool:
        # Where jobs had a flat ``maps`` tuple, ``if request.maps:`` meant "makes maps"; an options
        # object would always be true. Ask ``.maps`` (or ``JobRequest.makes_maps``) instead.
        raise TypeError("the truth of MapOptions is ambiguous: test its .maps (or JobRequest.makes_maps)")

    @property
    def controls(self) -> MapControls:
        """The map controls these options carry (what a job, a profile or a manifest row may set)."""
        return MapControls(**{name: getattr(self, name) for name in CONTROL_NAMES})

    def resolved(self) -> tuple[Preset, list[str]]:
        """The category's preset with this object's overrides applied, and any warnings."""
        preset, warning = preset_for(self.category)
        overrides = {"depth": self.depth, "ao_radius": self.ao_radius, "height_weights": self.height_weights,
                     "roughness": self.roughness, "roughness_range": self.roughness_range, "metallic": self.metallic}
        preset = replace(preset, **{k: v for k, v in overrides.items() if v is not None})
        return preset, [warning] if warning else []
