"""Per-category settings for the PBR maps: which scales of detail are relief, how deep, how rough.

Scales and depths are fractions of the image's longer side, so that the same material
photographed at 1024 or 4096 px gives the same maps (resampled). The three height bands are
the luminance between these Gaussian scales:

- fine:   below ``FINE_SCALE``            (pores, fibres, grain; 16 px on a 4096 px image)
- medium: ``FINE_SCALE``..``MEDIUM_SCALE``  (grout lines, weave, wood figure; 16-85 px)
- coarse: ``MEDIUM_SCALE``..``COARSE_SCALE`` (brick faces, planks, stone blocks; 85-512 px)

Anything larger than ``COARSE_SCALE`` is lighting, not relief, and is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from upscaler.materials.names import CATEGORIES, known_category

FINE_SCALE = 1 / 256
MEDIUM_SCALE = 1 / 48
COARSE_SCALE = 1 / 8


@dataclass(frozen=True)
class Preset:
    """How one category of material turns into maps.

    height_weights: weights of the (fine, medium, coarse) luminance bands in the height map.
    depth: the relief depth that the height map's full 0..1 range stands for, as a fraction of
        the image's longer side (0.005 = 5 mm on a 1 m tile); sets the normals' slope and the AO.
    ao_radius: how far ambient occlusion looks for surrounding relief, fraction of the longer side.
    roughness: the mean roughness (0 mirror .. 1 matte).
    roughness_range: how far roughness may vary around it (+-).
    rough_when_dark: weight of "darker than its surroundings = rougher" (dirt, grout, pores).
    rough_when_detailed: weight of "more fine detail around = rougher" (worn, porous patches).
    metallic: whether a metallic map is written (1 = bare metal, 0 where strongly coloured).
    """

    category: str
    height_weights: tuple[float, float, float]
    depth: float
    ao_radius: float
    roughness: float
    roughness_range: float
    rough_when_dark: float = 0.5
    rough_when_detailed: float = 0.5
    metallic: bool = False


PRESETS: dict[str, Preset] = {p.category: p for p in (
    Preset("wood", (0.6, 1.0, 0.3), depth=0.004, ao_radius=0.008, roughness=0.55, roughness_range=0.15),
    Preset("stone", (0.5, 0.8, 1.0), depth=0.008, ao_radius=0.015, roughness=0.3, roughness_range=0.15,
           rough_when_dark=0.3, rough_when_detailed=0.7),
    # Glazed tile is smooth; the grout between (dark, recessed) is what is rough.
    Preset("tile", (0.2, 1.0, 0.4), depth=0.006, ao_radius=0.01, roughness=0.2, roughness_range=0.3,
           rough_when_dark=1.0, rough_when_detailed=0.3),
    Preset("fabric", (1.0, 0.7, 0.2), depth=0.004, ao_radius=0.006, roughness=0.85, roughness_range=0.08),
    Preset("carpet", (1.0, 0.8, 0.3), depth=0.008, ao_radius=0.008, roughness=0.9, roughness_range=0.06),
    Preset("leather", (0.8, 0.6, 0.3), depth=0.003, ao_radius=0.006, roughness=0.5, roughness_range=0.15),
    Preset("metal", (0.6, 0.5, 0.3), depth=0.002, ao_radius=0.006, roughness=0.35, roughness_range=0.2,
           rough_when_dark=0.3, rough_when_detailed=0.7, metallic=True),
    Preset("concrete", (0.7, 0.8, 0.6), depth=0.005, ao_radius=0.01, roughness=0.85, roughness_range=0.1),
    Preset("wallpaper", (0.8, 0.5, 0.2), depth=0.002, ao_radius=0.005, roughness=0.6, roughness_range=0.1),
    Preset("brick", (0.4, 1.0, 0.8), depth=0.01, ao_radius=0.015, roughness=0.75, roughness_range=0.15,
           rough_when_dark=0.7, rough_when_detailed=0.5),
    Preset("glass", (0.3, 0.3, 0.2), depth=0.001, ao_radius=0.004, roughness=0.05, roughness_range=0.05),
    Preset("other", (0.6, 0.8, 0.5), depth=0.005, ao_radius=0.01, roughness=0.6, roughness_range=0.15),
)}


def preset_for(category: str) -> tuple[Preset, str | None]:
    """The preset of ``category`` (case-insensitive), and a warning when it is unknown (then
    the ``other`` preset is used: an unknown category never stops a job)."""
    key = known_category(category or "other")
    if key is not None:
        return PRESETS[key], None
    return PRESETS["other"], (f"unknown material category {category!r}: used the 'other' preset "
                              f"(known: {', '.join(CATEGORIES)})")
