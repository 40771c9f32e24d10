"""PBR material maps from one (upscaled) base-colour image: height, normal, AO, roughness, metallic.

The shared core: pixels in, maps and files out. It knows nothing of queues, storage back ends or
databases; files go through an ``open_write(name)`` callable (see ``writer.py``).

    from upscaler.materials import MapOptions, folder_writer, write_material
    result = write_material(pixels, folder_writer("out/brick"), MapOptions(category="brick", seamless=True),
                            name="brick")
    result.files, result.warnings

or, to handle each map yourself (one at a time, dropped after each step):

    maps = MaterialMaps(pixels, MapOptions(category="tile"))
    for m in maps:            # m.name, m.pixels (uint8/16, OpenCV layout), m.colorspace, m.filename
        ...
    maps.warnings
"""

from importlib import import_module

# Each name from the submodule that defines it, imported on first use: importing a light part
# (``upscaler.materials.names``, the category synonyms the producer needs) must not bring OpenCV
# and the map pipeline along.
_HOMES = {
    "MaterialFiles": "formats", "gltf_document": "formats", "materialx_document": "formats",
    "MAP_NAMES": "names", "MapOptions": "options", "MaterialMap": "pipeline", "MaterialMaps": "pipeline",
    "CATEGORIES": "presets", "PRESETS": "presets", "Preset": "presets", "preset_for": "presets",
    "preview_html": "preview",
    "FORMATS": "writer", "MaterialResult": "writer", "folder_writer": "writer", "write_material": "writer",
}
__all__ = ["CATEGORIES", "FORMATS", "MAP_NAMES", "PRESETS", "MapOptions", "MaterialFiles", "MaterialMap",
           "MaterialMaps", "MaterialResult", "Preset", "folder_writer", "gltf_document", "materialx_document",
           "preset_for", "preview_html", "write_material"]


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'upscaler.materials' has no attribute {name!r}")
    return getattr(import_module(f"upscaler.materials.{_HOMES[name]}"), name)
