"""``upscaler profiles``: how each material category is upscaled (list, show, set, reset)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import JSON_HELP, ensure_schema, err_console, fail, out_console, print_json, settings, zoo
from cli.tables import print_table

app = typer.Typer(help="Material profiles: the model, texture detail, colour, seamless and format per category.",
                  no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="A material category (fabric, carpet, leather, wood, ...).")]


def _row(profile, operator_set: bool) -> dict:
    return {"name": profile.name, **profile.to_json(), "source": "set" if operator_set else "default"}


def _on_profiles(action):
    """``action(session)`` on the database's profiles; a bad name or setting is an error line, exit 1."""
    from db.session import session_scope

    ensure_schema()
    try:
        with session_scope() as session:
            return action(session)
    except ValueError as exc:
        raise fail(str(exc)) from exc


def _print(rows: list[dict], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    print_table(out_console, ("profile", "model", "detail", "keep colour", "seamless", "format", "source"),
                [(r["name"], r["model"], f"{r['detail']:g}", "yes" if r["preserve_color"] else "no",
                  "yes" if r["seamless"] else "no", r["format"], r["source"]) for r in rows],
                identifiers=("profile", "model"))
    # Few profiles set map controls: a line each under the table, not a mostly empty column.
    from upscaler.materials.controls import MapControls

    for r in rows:
        if r["map_controls"]:
            out_console.print(f"{r['name']} map controls: {MapControls.from_json(r['map_controls']).describe()}")


@app.command("list")
def profiles_list(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Every category's profile in effect: the measured default, or as an operator set it."""
    from db.profiles import current_profiles
    from upscaler.profiles import measurement_source

    rows = _on_profiles(lambda session: [_row(profile, operator_set)
                                         for profile, operator_set in current_profiles(session).values()])
    _print(rows, as_json)
    if not as_json:
        err_console.print(f"defaults measured by {measurement_source()} (bench/RESULTS.md, texture fidelity)")


@app.command("show")
def profiles_show(name: NameArgument, as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """One category's profile."""
    from db.profiles import current_profile

    row = _row(*_on_profiles(lambda session: current_profile(session, name)))
    if as_json:
        print_json(row)
    else:
        _print([row], False)


@app.command("set")
def profiles_set(
    name: NameArgument,
    model: Annotated[str | None, typer.Option(help="Model name or .pth file.")] = None,
    detail: Annotated[float | None, typer.Option(help="Texture detail 0..1.")] = None,
    preserve_color: Annotated[bool | None, typer.Option("--preserve-color/--no-preserve-color")] = None,
    seamless: Annotated[bool | None, typer.Option("--seamless/--no-seamless")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="auto, png, jpeg, webp or tiff.")] = None,
    invert_height: Annotated[bool | None, typer.Option(
        "--invert-height/--no-invert-height", help="The recesses are lighter than the surface (light grout).")] = None,
    depth: Annotated[float | None, typer.Option(help="Relief depth, fraction of the image's longer side.")] = None,
    normal_strength: Annotated[float | None, typer.Option(help="Multiplies the depth for the normals only.")] = None,
    roughness: Annotated[float | None, typer.Option(help="Mean roughness 0..1.")] = None,
    roughness_range: Annotated[float | None, typer.Option(help="Roughness's range around its mean, +-0..1.")] = None,
    normal_bits: Annotated[int | None, typer.Option(help="Normal map bits per channel: 8 or 16.")] = None,
    clear_map_controls: Annotated[bool, typer.Option(
        "--clear-map-controls", help="Back to the category's map presets for every map control not given here.")]
        = False,
) -> None:
    """Change a profile for every producer and worker (what is not given stays as it is). The map
    controls (--invert-height ... --normal-bits, see `upscaler upscale --help`) apply to the maps of
    the category's jobs; a job's own options and a manifest row's cells still win, control by control."""
    from db.profiles import set_profile

    if model is not None:
        # Every job of the category will ask its worker for this model: refused here if none could load it.
        from upscaler.errors import UpscalerError

        try:
            problem = zoo().why_workers_cannot_load(model, remote_workers=settings().broker_url is not None)
        except UpscalerError as exc:
            problem = str(exc)
        if problem is not None:
            raise fail(f"profile {name!r}: {problem}")
    controls = {"invert_height": invert_height, "depth": depth, "normal_strength": normal_strength,
                "roughness": roughness, "roughness_range": roughness_range, "normal_bits": normal_bits}
    profile = _on_profiles(lambda session: set_profile(session, name, clear_map_controls, model=model, detail=detail,
                                                       preserve_color=preserve_color, seamless=seamless, format=fmt,
                                                       **controls))
    _print([_row(profile, True)], False)


@app.command("reset")
def profiles_reset(name: NameArgument) -> None:
    """Back to the measured default."""
    from db.profiles import reset_profile

    _print([_row(_on_profiles(lambda session: reset_profile(session, name)), False)], False)
