"""The maps a material set can hold, in the order they are made (light: the job parameters use it)."""

MAP_NAMES = ("basecolor", "height", "normal", "ao", "roughness", "metallic")
# Every file a set's folder may hold (materials/writer.py): the maps first, then the documents
# that name them.
SET_FILES = (*(f"{m}.png" for m in (*MAP_NAMES, "orm", "normal_opengl")), "material.gltf", "material.mtlx",
             "preview.html")

# The material categories of the catalogue: a manifest's ``material`` column, ``--material``, a
# watch's setting. Each has map presets (materials/presets.py) and an upscaling profile
# (upscaler/profiles.py); ``other`` is what an unknown category gets.
CATEGORIES = ("wood", "stone", "tile", "fabric", "carpet", "leather", "metal", "concrete", "wallpaper", "brick",
              "glass", "other")
# Other names suppliers use for the same categories.
SYNONYMS = {"tiles": "tile", "ceramic": "tile", "rug": "carpet", "rugs": "carpet", "textile": "fabric",
            "upholstery": "fabric", "timber": "wood", "marble": "stone", "granite": "stone", "bricks": "brick",
            "carpets": "carpet", "fabrics": "fabric", "metals": "metal", "wallcovering": "wallpaper"}


def known_category(name: str | None) -> str | None:
    """The catalogue's category for ``name`` (case and surrounding spaces ignored, common
    synonyms and plurals accepted); None when it is not one."""
    key = (name or "").strip().lower()
    key = SYNONYMS.get(key, key)
    return key if key in CATEGORIES else None
