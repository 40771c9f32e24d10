"""Writing a material set: the maps as PNGs, the glTF and MaterialX descriptions, the preview page.

Files go through ``open_write(name)``, a function that returns a context manager yielding a
writable binary stream for a name relative to the material's folder; the file must appear only
when the ``with`` block ends without an exception. ``folder_writer`` makes one for a local
folder; a job passes one that goes to its Storage (``Storage.open_write`` has that contract).
Each map is encoded (strip by strip, ``upscaler.imageio.png``) as soon as it is made and then dropped;
only small copies for the preview and the 8-bit planes glTF's ORM packing needs stay.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np

from upscaler.imageio.png import write_png
from upscaler.materials.formats import MaterialFiles, gltf_document, materialx_document
from upscaler.materials.pipeline import MapOptions, MaterialMap, MaterialMaps
from upscaler.materials.preview import preview_html, shrink_for_preview
from upscaler.storage import open_local_write

OpenWrite = Callable[[str], AbstractContextManager[BinaryIO]]
FORMATS = ("gltf", "mtlx", "preview")
PREVIEW_MAPS = ("basecolor", "height", "normal", "roughness", "ao", "metallic")


@dataclass
class MaterialResult:
    """What was written: file names (relative, in writing order), warnings, the preset used."""

    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    category: str = "other"
    flat: bool = False


def folder_writer(folder: str | os.PathLike) -> OpenWrite:
    """``open_write`` for a local folder: each file is written to a temporary name and renamed."""
    root = Path(folder)
    return lambda name: open_local_write(root / name)


def write_material(pixels: np.ndarray, open_write: OpenWrite, options: MapOptions = MapOptions(),
                   name: str = "material", formats: Iterable[str] = FORMATS,
                   on_map: Callable[[MaterialMap], None] | None = None, size_mm: tuple[float, float] | None = None,
                   warnings: Sequence[str] = ()) -> MaterialResult:
    """Make the maps of ``pixels`` (base colour, OpenCV layout, uint8/16) and write the set.

    Files: ``basecolor.png``, ``height.png`` (16-bit), ``normal.png`` (in
    ``options.normal_convention``), ``ao.png``, ``roughness.png``, ``metallic.png`` (metal only),
    and with ``formats``: ``gltf`` -> ``orm.png`` + ``material.gltf`` (+ ``normal_opengl.png``
    for a DirectX set), ``mtlx`` -> ``material.mtlx``, ``preview`` -> ``preview.html``.
    ``on_map`` sees each map before it is dropped (progress, metrics). ``size_mm``: the real
    (width, height) the image covers, for glTF, MaterialX and the preview (see formats.py);
    ``warnings``: shown on the preview page with the maps' own (a board report's PBR check, say).
    """
    formats = tuple(formats)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown formats {sorted(unknown)}; known: {', '.join(FORMATS)}")
    needs_opengl = options.normal_convention == "directx" and ("gltf" in formats or "mtlx" in formats)
    options = replace(options, orm=options.orm or "gltf" in formats,
                      opengl_normal_copy=options.opengl_normal_copy or needs_opengl)
    stream = MaterialMaps(pixels, options)
    result = MaterialResult(category=stream.preset.category)
    previews: dict[str, np.ndarray] = {}
    for item in stream:
        with open_write(item.filename) as out:
            write_png(item.pixels, out)
        result.files.append(item.filename)
        if "preview" in formats and item.name in PREVIEW_MAPS:
            previews[item.name] = shrink_for_preview(item.pixels)
        if on_map is not None:
            on_map(item)
        del item
    result.warnings, result.flat = list(stream.warnings), stream.flat

    files = MaterialFiles(name=name, normal="normal_opengl.png" if needs_opengl else "normal.png",
                          metallic="metallic.png" if "metallic.png" in result.files else None,
                          has_alpha=pixels.ndim == 3 and pixels.shape[2] == 4, depth=stream.preset.depth,
                          size_mm=size_mm)
    texts = {"gltf": ("material.gltf", gltf_document), "mtlx": ("material.mtlx", materialx_document)}
    for fmt in formats:
        if fmt in texts:
            filename, render = texts[fmt]
            _write_text(open_write, filename, render(files), result)
    if "preview" in formats:
        if "basecolor" not in previews:  # a set asked without its base colour file: the page still needs it
            previews["basecolor"] = shrink_for_preview(pixels)
        note = f" - {stream.preset.category}" + ("" if options.seamless else " (not seamless: the tiles show seams)")
        page = preview_html(name, previews, options.normal_convention, note=note, size_mm=size_mm,
                            warnings=[*warnings, *result.warnings])
        _write_text(open_write, "preview.html", page, result)
    return result


def _write_text(open_write: OpenWrite, filename: str, text: str, result: MaterialResult) -> None:
    with open_write(filename) as out:
        out.write(text.encode("utf-8"))
    result.files.append(filename)
