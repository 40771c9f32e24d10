"""The options that describe a job, declared once for ``upscale``, ``submit`` and ``watch add``.

A command decorated with :func:`job_options` takes one ``params: JobParams`` argument; the
decorator adds the options below to its command line and builds the parameters from them, with
the configured defaults (``UPSCALER_TILE``, ``UPSCALER_TILE_PAD``) for what is not given.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from upscaler.materials.names import AUTO
from upscaler.settings import get_settings
from upscaler.zoo.names import DEFAULT_MODEL, TEXTURE_MODEL

SHARED: dict[str, tuple[Any, Any]] = {
    "model": (Annotated[str | None, typer.Option(
        help=f"Model name (see `upscaler models list`) or a .pth file. [default: the material's profile, {DEFAULT_MODEL}]")],
              None),
    "detail": (Annotated[float | None, typer.Option(
        help=f"Texture detail 0..1: the share of {TEXTURE_MODEL} mixed into the model's output on every tile. "
             "[default: the material's profile, 0]")], None),
    "tile": (Annotated[int | None, typer.Option(
        help="Tile edge in input pixels; 0 = whole image. [default: UPSCALER_TILE, 200]")], None),
    "tile_pad": (Annotated[int | None, typer.Option(
        help="Context pixels around each tile. [default: UPSCALER_TILE_PAD, 12]")], None),
    "outscale": (Annotated[float, typer.Option(help="Final scale factor (the model's own is resampled to it).")], 4.0),
    "fmt": (Annotated[str | None, typer.Option("--format", help="auto (like the input), png, jpeg, webp or tiff. "
                                               "[default: the material's profile, auto]")], None),
    "quality": (Annotated[int, typer.Option(help="JPEG/WebP quality, 1-100.")], 95),
    "alpha": (Annotated[str, typer.Option(help="Alpha channel enlarged by 'bicubic' or by the 'model'.")], "bicubic"),
    "seamless": (Annotated[bool | None, typer.Option(
        "--seamless/--no-seamless", help="Tileable input -> tileable output. [default: the material's profile, no]")],
                 None),
    "preserve_color": (Annotated[bool | None, typer.Option(
        "--preserve-color/--no-preserve-color",
        help="Keep the input's colour, the model's detail. [default: the material's profile, no]")], None),
    "color_space": (Annotated[str, typer.Option(
        help="Output colour: 'srgb' (tagged sRGB, for 3D tools) or 'keep' (the source's own ICC profile).")], "srgb"),
    "maps": (Annotated[str, typer.Option(
        help="PBR maps to make beside each image: 'all', or some of basecolor, height, normal, ao, roughness, "
             "metallic, comma-separated.")],
             ""),
    "material": (Annotated[str, typer.Option(
        help="Material category (fabric, carpet, leather, wood, stone, tile, ...): its profile (see `upscaler "
             "profiles list`) sets what is not given here, and its presets make the maps. 'auto': each image's "
             "category from its file or folder name (rugs/, fabric_denim.png), no profile where none is named; "
             "'none': no profile.")], "auto"),
    "normal_convention": (Annotated[str, typer.Option(help="Normal map convention: opengl or directx.")], "opengl"),
    "delight": (Annotated[bool, typer.Option("--delight", help="Flatten the photo's baked shading in the base colour map.")],
                False),
    "make_tileable": (Annotated[bool, typer.Option(
        "--make-tileable", help="Make the upscaled photo a tile: its wrap-around seams replaced by cuts through "
                                "its own content, the maps made to tile too (see docs/materials.md).")], False),
    "repeat": (Annotated[str | None, typer.Option(
        help="The pattern repeats: 'auto' finds its period, NxM says about N repeats across and M down; the tile "
             "is cut to whole repeats (implies --make-tileable).")], None),
    "width_mm": (Annotated[float | None, typer.Option(
        help="The real width the photo covers, in millimetres: the glTF, MaterialX and preview carry the size.")],
                 None),
    # The map controls (upscaler/materials/controls.py): gathered into one ``map_controls``.
    "invert_height": (Annotated[bool | None, typer.Option(
        "--invert-height/--no-invert-height",
        help="The recesses are lighter than the surface (light mortar or grout): the maps read the relief "
             "upside down. [default: the material's profile, no]")], None),
    "depth": (Annotated[float | None, typer.Option(
        help="Relief depth of the height's full range, a fraction of the image's longer side (0.005 = 5 mm on a "
             "1 m swatch): steepness of the normals, depth of the AO. [default: the material's profile, else "
             "its map preset]")], None),
    "normal_strength": (Annotated[float | None, typer.Option(
        help="Multiplies the depth for the normal map only. [default: the material's profile, 1]")], None),
    "roughness": (Annotated[float | None, typer.Option(
        help="Mean roughness, 0 mirror .. 1 matte. [default: the material's profile, else its map preset]")], None),
    "roughness_range": (Annotated[float | None, typer.Option(
        help="How far roughness moves around its mean (+-, 0..1). [default: the material's profile, else its "
             "map preset]")], None),
    "normal_bits": (Annotated[int | None, typer.Option(
        help="Bits per channel of the normal map: 8 or 16. [default: the material's profile, 8]")], None),
}
# Command-line names that differ from the parameter's field name.
FIELD_NAMES = {"fmt": "format"}


def job_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared job options to ``command``, which receives them as ``params``."""
    signature = inspect.signature(command)
    # The command's own annotations are strings (postponed evaluation): evaluated where the
    # command was written, except ``params``, which the command line never sees.
    own = [p.replace(annotation=eval(p.annotation, command.__globals__) if isinstance(p.annotation, str)
                     else p.annotation)
           for p in signature.parameters.values() if p.name != "params"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in SHARED.items()]

    @functools.wraps(command)
    def with_params(**arguments: Any) -> Any:
        given = {FIELD_NAMES.get(name, name): arguments.pop(name) for name in SHARED}
        return command(params=build_params(given), **arguments)

    with_params.__signature__ = signature.replace(parameters=own + shared)  # type: ignore[attr-defined]
    with_params.__annotations__ = {p.name: p.annotation for p in own + shared}
    del with_params.__wrapped__  # Typer must read the new signature, not the wrapped one's
    return with_params


def build_params(given: dict[str, Any]):
    """The job's parameters; an invalid combination is a usage error naming the option. What was
    given of what a material profile sets is recorded as fixed: the profile leaves it alone."""
    from upscaler.jobspec import JobParams
    from upscaler.profiles import PROFILE_FIELDS

    from upscaler.materials.controls import CONTROL_NAMES, BadControl, MapControls

    controls = {name: value for name in CONTROL_NAMES if (value := given.pop(name, None)) is not None}
    # Each control given is fixed on its own: a profile still sets the others.
    fixed = tuple(name for name in PROFILE_FIELDS if given.get(name) is not None) + tuple(controls)
    try:
        given["map_controls"] = MapControls(**controls)
    except BadControl as exc:
        raise typer.BadParameter(str(exc), param_hint=f"--{exc.control.replace('_', '-')}") from exc
    if str(given.get("material") or "").strip().lower() in ("none", ""):
        given["material"] = None
    elif given["material"].strip().lower() == AUTO:
        given["material"] = AUTO
    try:
        return JobParams.from_settings(get_settings(), **given, fixed=fixed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
