"""The options that describe a job, declared once for ``upscale``, ``submit`` and ``watch add``.

A command decorated with :func:`job_options` takes one ``params: JobRequest`` argument; the
decorator adds the options below to its command line and builds the request from them, with
the configured defaults (``UPSCALER_TILE``, ``UPSCALER_TILE_PAD``) for what is not given. The
defaults shown and used are the request's own dataclass defaults (upscaler/jobspec.py), never
restated here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from upscaler.materials.names import AUTO
from upscaler.settings import get_settings

def _default(name: str) -> Any:
    """A field's default, read off the request's dataclasses (upscaler/jobspec.py)."""
    from upscaler.jobspec import field_default

    return field_default(name)


def _profile_default(name: str) -> str:
    return f"\\[default: the material's profile, {_default(name)}]"


def _shown(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else str(value)


# Options a material profile sets default to None (not given), so that the profile can fill them.
SHARED: dict[str, tuple[Any, Any]] = {
    "model": (Annotated[str | None, typer.Option(
        help=f"Model name (see `upscaler models list`) or a .pth file. {_profile_default('model')}")], None),
    "detail": (Annotated[float | None, typer.Option(
        help=f"Texture detail 0..1: the share of {_default('detail_model')} mixed into the model's output on every "
             f"tile. {_profile_default('detail')}")], None),
    "tile": (Annotated[int | None, typer.Option(
        help=f"Tile edge in input pixels; 0 = whole image. \\[default: UPSCALER_TILE, {_default('tile')}]")], None),
    "tile_pad": (Annotated[int | None, typer.Option(
        help=f"Context pixels around each tile. \\[default: UPSCALER_TILE_PAD, {_default('tile_pad')}]")], None),
    "outscale": (Annotated[float, typer.Option(help="Final scale factor (the model's own is resampled to it).")],
                 _default("outscale")),
    "fmt": (Annotated[str | None, typer.Option("--format", help="auto (like the input), png, jpeg, webp or tiff. "
                                               f"{_profile_default('format')}")], None),
    "quality": (Annotated[int, typer.Option(help="JPEG/WebP quality, 1-100.")], _default("quality")),
    "alpha": (Annotated[str, typer.Option(help="Alpha channel enlarged by 'bicubic' or by the 'model'.")],
              _default("alpha")),
    "seamless": (Annotated[bool | None, typer.Option(
        "--seamless/--no-seamless",
        help=f"Tileable input -> tileable output. \\[default: the material's profile, {_shown(_default('seamless'))}]")],
                 None),
    "preserve_color": (Annotated[bool | None, typer.Option(
        "--preserve-color/--no-preserve-color",
        help="Keep the input's colour, the model's detail. "
             f"\\[default: the material's profile, {_shown(_default('preserve_color'))}]")], None),
    "color_space": (Annotated[str, typer.Option(
        help="Output colour: 'srgb' (tagged sRGB, for 3D tools) or 'keep' (the source's own ICC profile).")],
                    _default("color_space")),
    "maps": (Annotated[str, typer.Option(
        help="PBR maps to make beside each image: 'all', or some of basecolor, height, normal, ao, roughness, "
             "metallic, comma-separated. \\[default: none]", show_default=False)], ",".join(_default("maps"))),
    "material": (Annotated[str, typer.Option(
        help="Material category (fabric, carpet, leather, wood, stone, tile, ...): its profile (see `upscaler "
             "profiles list`) sets what is not given here, and its presets make the maps. 'auto': each image's "
             "category from its file or folder name (rugs/, fabric_denim.png), no profile where none is named; "
             "'none': no profile.")], AUTO),
    "normal_convention": (Annotated[str, typer.Option(help="Normal map convention: opengl or directx.")],
                          _default("normal_convention")),
    "delight": (Annotated[bool, typer.Option("--delight", help="Flatten the photo's baked shading in the base colour map.")],
                _default("delight")),
    "make_tileable": (Annotated[bool, typer.Option(
        "--make-tileable", help="Make the upscaled photo a tile: its wrap-around seams replaced by cuts through "
                                "its own content, the maps made to tile too (see docs/materials.md).")],
                      _default("make_tileable")),
    "repeat": (Annotated[str | None, typer.Option(
        help="The pattern repeats: 'auto' finds its period, NxM says about N repeats across and M down; the tile "
             "is cut to whole repeats (implies --make-tileable).")], _default("repeat")),
    "width_mm": (Annotated[float | None, typer.Option(
        help="The real width the photo covers, in millimetres: the glTF, MaterialX and preview carry the size.")],
                 _default("width_mm")),
    # The map controls (upscaler/materials/controls.py): each given is fixed against the profile.
    "invert_height": (Annotated[bool | None, typer.Option(
        "--invert-height/--no-invert-height",
        help="The recesses are lighter than the surface (light mortar or grout): the maps read the relief "
             f"upside down. \\[default: the material's profile, {_shown(_default('invert_height'))}]")], None),
    "depth": (Annotated[float | None, typer.Option(
        help="Relief depth of the height's full range, a fraction of the image's longer side (0.005 = 5 mm on a "
             "1 m swatch): steepness of the normals, depth of the AO. \\[default: the material's profile, else "
             "its map preset]")], None),
    "normal_strength": (Annotated[float | None, typer.Option(
        help=f"Multiplies the depth for the normal map only. {_profile_default('normal_strength')}")], None),
    "roughness": (Annotated[float | None, typer.Option(
        help="Mean roughness, 0 mirror .. 1 matte. \\[default: the material's profile, else its map preset]")],
                  None),
    "roughness_range": (Annotated[float | None, typer.Option(
        help="How far roughness moves around its mean (+-, 0..1). \\[default: the material's profile, else its "
             "map preset]")], None),
    "normal_bits": (Annotated[int | None, typer.Option(
        help=f"Bits per channel of the normal map: 8 or 16. {_profile_default('normal_bits')}")], None),
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
    from upscaler.jobspec import JobRequest
    from upscaler.materials.controls import CONTROL_NAMES, BadControl, MapControls
    from upscaler.profiles import PROFILE_FIELDS

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
        return JobRequest.from_settings(get_settings(), **given, fixed=fixed)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
