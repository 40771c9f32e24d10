"""At 80 columns nothing a person must copy or type is cut: option names in every --help, model
names in help text and in `profiles list`, batch ids in `status`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import typer
from typer.testing import CliRunner

from cli.main import app
from tests.cli_process import run_cli
from tests.textures import texture
from upscaler.zoo.catalogue import BUILTIN_MODELS


def every_command(group, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], object]]:
    """Every command and group under ``group`` (Typer's own click), with its path."""
    found = [(path, group)]
    if hasattr(group, "commands"):
        for name, command in group.commands.items():
            found += every_command(command, (*path, name))
    return found


def test_every_help_shows_every_option_name_whole_at_80_columns() -> None:
    runner = CliRunner()
    commands = every_command(typer.main.get_command(app))
    assert len(commands) > 30
    for path, command in commands:
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, (path, result.output)
        words = result.output.split()
        for param in command.params:
            for name in (*param.opts, *param.secondary_opts):
                if name.startswith("-"):
                    assert name in words or f"{name}," in words, (path, name, result.output)
        for model in BUILTIN_MODELS:  # a model named in the help is named whole
            stem = model.split("-")[0] + "-"
            for word in words:
                if word.startswith(stem) and model.startswith(word.rstrip(",.;:)")):
                    assert word.rstrip(",.;:)") == model, (path, word, result.output)


def test_upscale_help_in_an_80_column_terminal(tmp_path: Path) -> None:
    result = run_cli(["upscale", "--help"], tmp_path / "data", columns=80)
    assert result.returncode == 0
    assert "--preserve-color / --no-preserve-color" in result.stdout and "realsr-df2k-x4" in result.stdout
    assert "…" not in result.stdout


def test_profiles_list_shows_model_names_whole_at_80_columns(tmp_path: Path) -> None:
    listed = json.loads(run_cli(["profiles", "list", "--json"], tmp_path / "data").stdout)
    table = run_cli(["profiles", "list"], tmp_path / "data", columns=80).stdout
    assert "…" not in table and max(len(line) for line in table.splitlines()) <= 80
    for row in listed:
        assert any(line.split()[:2] == [row["name"], row["model"]] for line in table.splitlines()), row


def test_status_shows_whole_batch_ids_at_80_columns(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), texture(8, 8))
    submitted = run_cli(["submit", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--json"], tmp_path / "data",
                        UPSCALER_ENGINE_NOOP="1")
    batch = json.loads(submitted.stdout)["batch_id"]
    listing = run_cli(["status"], tmp_path / "data", columns=80)
    assert listing.returncode == 0 and batch in listing.stdout.split()
    assert "1 succeeded" in listing.stdout
