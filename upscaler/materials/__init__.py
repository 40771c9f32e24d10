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

from upscaler.materials.formats import MaterialFiles, gltf_document, materialx_document
from upscaler.materials.pipeline import MAP_NAMES, MapOptions, MaterialMap, MaterialMaps
from upscaler.materials.presets import CATEGORIES, PRESETS, Preset, preset_for
from upscaler.materials.preview import preview_html
from upscaler.materials.writer import FORMATS, MaterialResult, folder_writer, write_material

__all__ = ["CATEGORIES", "FORMATS", "MAP_NAMES", "PRESETS", "MapOptions", "MaterialFiles", "MaterialMap",
           "MaterialMaps", "MaterialResult", "Preset", "folder_writer", "gltf_document", "materialx_document",
           "preset_for", "preview_html", "write_material"]
