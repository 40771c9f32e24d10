"""``upscaler material preview``: look at a material set (maps beside an upscaled image) in 3D."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.common import err_console, fail, shown

app = typer.Typer(help="PBR material sets: height, normal, roughness and AO maps beside each image.",
                  no_args_is_help=True)
PREVIEW_MAPS = ("basecolor", "height", "normal", "roughness", "ao", "metallic")


@app.command("preview")
def preview(
    folder: Annotated[Path, typer.Argument(help="A material set's folder (basecolor.png, normal.png, ...).")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The page to write [default: FOLDER/preview.html].")] = None,
    normal_convention: Annotated[str, typer.Option(help="The normal map's convention: opengl or directx.")] = "opengl",
) -> None:
    """Write a self-contained HTML page: the material on a sphere and a tiled plane, under a moving
    light (three.js, bundled: the page works offline), next to its flat maps."""
    import cv2

    from upscaler.materials import preview_html
    from upscaler.materials.preview import shrink_for_preview

    maps = {}
    for name in PREVIEW_MAPS:
        path = folder / f"{name}.png"
        if path.is_file():
            pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if pixels is None:
                raise fail(f"{path}: not a readable PNG")
            maps[name] = shrink_for_preview(pixels)
    if "basecolor" not in maps:
        raise fail(f"{folder}: no basecolor.png; make a set with `upscaler upscale --maps all`")
    target = output or folder / "preview.html"
    target.write_text(preview_html(folder.name, maps, normal_convention), encoding="utf-8")
    err_console.print(f"preview of {shown(folder)} written to {shown(target)}")
