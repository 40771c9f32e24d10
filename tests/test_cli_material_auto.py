"""``--material auto``, the default: each image's category from its file or folder name (through
the synonym table), its profile applied, the category recorded on each job, and the report saying
what ran."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import cv2
import pytest

from tests.cli_process import run_cli
from tests.textures import texture
from upscaler.materials.names import category_from_path

# The model and detail fixed, so that only the tiny compact model is loaded whatever the profiles say.
FIXED = ["--model", "realesr-animevideov3", "--detail", "0"]


def catalogue(tmp_path: Path) -> Path:
    root = tmp_path / "catalogue"
    for relative in ("rugs/persian-01.png", "fabric_denim.png", "misc/thing.png"):
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / relative), texture(12, 12))
    return root


def test_names_give_categories_through_the_synonym_table() -> None:
    assert category_from_path("catalogue/rugs/persian-01.png") == "carpet"
    assert category_from_path("s3://supplier/2026/Upholstery/x.jpg") == "fabric"
    assert category_from_path("oak-timber_03.png") == "wood"
    assert category_from_path("misc/thing.png") is None
    assert category_from_path("s3://fabric-bucket/thing.png") is None  # a bucket is not a folder of the catalogue


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_upscale_runs_each_image_with_the_profile_its_name_gives(tmp_path: Path) -> None:
    result = run_cli(["upscale", str(catalogue(tmp_path)), "-o", str(tmp_path / "out"), *FIXED, "--json"],
                     tmp_path / "data")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {Path(r["input"]).name: (r["material"], r["profile"]) for r in report["results"]}
    assert by_name == {"persian-01.png": ("carpet", "carpet"), "fabric_denim.png": ("fabric", "fabric"),
                       "thing.png": (None, None)}
    assert sorted((r["profile"], r["images"]) for r in report["ran"] if r["profile"]) == [("carpet", 1), ("fabric", 1)]
    text = run_cli(["upscale", str(catalogue(tmp_path / "again")), "-o", str(tmp_path / "out2"), *FIXED],
                   tmp_path / "data")
    assert "1 x carpet profile: realesr-animevideov3" in text.stderr
    assert "1 x realesr-animevideov3 (no material named: no profile)" in text.stderr


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_material_none_runs_no_profile(tmp_path: Path) -> None:
    result = run_cli(["upscale", str(catalogue(tmp_path)), "-o", str(tmp_path / "out"), *FIXED, "--material", "none",
                      "--json"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    assert {r["profile"] for r in json.loads(result.stdout)["results"]} == {None}


def test_submit_records_the_category_chosen_on_each_job(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli(["submit", str(catalogue(tmp_path)), "-o", str(tmp_path / "out")], data,
                     UPSCALER_ENGINE_NOOP="1")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(data / "upscaler.sqlite3") as connection:
        jobs = dict(connection.execute("SELECT source_uri, material FROM jobs").fetchall())
    assert {Path(uri).name: material for uri, material in jobs.items()} == {
        "persian-01.png": "carpet", "fabric_denim.png": "fabric", "thing.png": None}
    assert "material profiles:" in result.stderr and "carpet (" in result.stderr and "fabric (" in result.stderr
