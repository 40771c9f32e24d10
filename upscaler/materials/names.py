"""The maps a material set can hold, in the order they are made (light: the job parameters use it)."""

import re

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


# ``--material auto`` (the default): each image's category from its file and folder names.
AUTO = "auto"
# Folders above the file that may name its category ("catalogue/fabric/denim/x.png"); higher ones
# are a person's or a machine's own folders, not the catalogue's.
NAMING_FOLDERS = 3


def category_from_path(path: str) -> str | None:
    """The category an image's name gives: a word of its file name ("fabric_denim.png",
    "oak-timber.jpg"), else its folder's name or a word of it, innermost first, up to
    :data:`NAMING_FOLDERS` folders ("rugs/persian/01.png" -> carpet); None when none is one."""
    parts = [p for p in re.split(r"[\\/]", path.removeprefix("s3://")) if p][1 if path.startswith("s3://") else 0:]
    if not parts:
        return None
    stem = parts[-1].rsplit(".", 1)[0]
    for word in re.split(r"[-_ .]+", stem):
        if known_category(word):
            return known_category(word)
    for folder in reversed(parts[-1 - NAMING_FOLDERS:-1]):
        for name in (folder, *re.split(r"[-_ .]+", folder)):
            if known_category(name):
                return known_category(name)
    return None
