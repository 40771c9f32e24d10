"""``upscaler models``: list, import, inspect and remove models in the zoo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from cli.common import JSON_HELP, err_console, fail, out_console, print_json, settings, zoo
from upscaler.errors import UpscalerError

app = typer.Typer(help="The model zoo: built-in pretrained models and imported weight files.",
                  no_args_is_help=True)


def _summary(info) -> dict:
    return {**info.to_json(), "weights": str(info.weights_path)}


@app.command("list")
def list_models(as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False) -> None:
    """Every model you can name with --model: built-in ones (imported on first use) and imported ones."""
    # The catalogue, not the zoo: listing reads a few JSON files and should not wait for torch.
    from upscaler.zoo.catalogue import BUILTIN_MODELS, installed_models

    try:
        installed = installed_models(settings().models_dir)
    except UpscalerError as exc:
        raise fail(str(exc)) from exc
    rows = []
    for name in sorted(set(BUILTIN_MODELS) | set(installed)):
        info = installed.get(name)
        rows.append({
            "name": name,
            "builtin": name in BUILTIN_MODELS,
            "imported": info is not None,
            "arch": info.spec.arch if info else None,
            "scale": info.spec.scale if info else None,
            "description": info.description if info else BUILTIN_MODELS[name].description,
        })
    if as_json:
        print_json(rows)
        return
    table = Table("name", "imported", "arch", "scale", "description")
    for row in rows:
        table.add_row(row["name"], "yes" if row["imported"] else "on first use", row["arch"] or "",
                      f"x{row['scale']}" if row["scale"] else "", row["description"])
    out_console.print(table)


@app.command("import")
def import_models(
    sources: Annotated[list[str] | None, typer.Argument(
        help="Built-in model names or .pth/.safetensors files; none = every built-in model.")] = None,
    name: Annotated[str | None, typer.Option(help="Name for an imported file (default: its stem).")] = None,
    description: Annotated[str, typer.Option(help="Free text stored with the model.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Convert or copy weights into the zoo (safetensors + sha256), ready for workers."""
    from upscaler.zoo.catalogue import BUILTIN_MODELS

    targets = sources or sorted(BUILTIN_MODELS)
    if name and len(targets) != 1:
        raise typer.BadParameter("--name needs exactly one source")
    imported = []
    try:
        for source in targets:
            if source in BUILTIN_MODELS:
                info = zoo().import_builtin(source)
            else:
                path = Path(source)
                info = zoo().import_file(path, name or path.stem.lower(), description)
            imported.append(_summary(info))
            if not as_json:
                err_console.print(f"imported [bold]{info.name}[/] ({info.spec.arch}, x{info.spec.scale}) "
                                  f"sha256 {info.sha256[:16]}...")
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    if as_json:
        print_json(imported)


@app.command("info")
def model_info(
    name: Annotated[str, typer.Argument(help="A model name (or a weight file path).")],
    as_json: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Architecture, hyperparameters, parameter count and checksum of one model."""
    from upscaler.zoo.archs import build

    try:
        info, state = zoo().load(name)
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    parameters = sum(p.numel() for p in build(info.spec, state).parameters())
    data = {**_summary(info), "parameters": parameters}
    if as_json:
        print_json(data)
        return
    for key, value in data.items():
        out_console.print(f"[bold]{key}[/]: {value}")


@app.command("remove")
def remove_model(name: Annotated[str, typer.Argument(help="The model to delete from the zoo.")]) -> None:
    """Delete an imported model's files (a built-in one is re-imported on next use)."""
    try:
        zoo().remove(name)
    except UpscalerError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from exc
    err_console.print(f"removed {name}")
