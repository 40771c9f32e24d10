"""``upscaler compare``'s sheet tells every column apart (labels wrapped, never cut), and its
``--material`` / ``--detail`` run each column as ``upscale`` would, with a column for the profile."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.compare_cmd import PROFILE_COLUMN, column_params
from tests.cli_process import run_cli
from tests.textures import texture
from upscaler.evaluation.comparison import CELL, ImageResult, contact_sheet
from upscaler.evaluation.labels import text_width, wrap_label
from upscaler.profiles import default_profiles

# Two models whose names differ only at their end, as a fine-tuning run's exports do.
TWINS = ("realesrgan-x4plus-catalogue-2026-fabric-finetune-v2", "realesrgan-x4plus-catalogue-2026-fabric-finetune-v3")


def test_a_long_label_is_wrapped_to_the_cell_and_keeps_every_character() -> None:
    for name in (*TWINS, "x" * 80, "fabric profile: realesr-animevideov3 + 0.75 realsr-df2k-x4", "short"):
        lines = wrap_label(name, CELL - 6, 0.38)
        assert "".join(lines) == name
        assert all(text_width(line, 0.38) <= CELL - 6 for line in lines)
    assert wrap_label(TWINS[0], CELL - 6, 0.38)[-1] != wrap_label(TWINS[1], CELL - 6, 0.38)[-1]


def test_the_sheet_tells_apart_models_whose_names_differ_at_the_end() -> None:
    low = texture(48, 48)
    big = cv2.resize(low, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
    result = ImageResult("denim", "fabric", low, outputs={TWINS[0]: big, TWINS[1]: big.copy()})
    sheet = contact_sheet([result], list(TWINS))
    header = sheet.shape[0] - 4 - CELL
    assert header >= 2 * 14   # the names take two lines above the crops
    first, second = (sheet[:header, CELL * i: CELL * (i + 1)] for i in (1, 2))
    assert (first < 128).any() and (second < 128).any()
    assert not np.array_equal(first, second)   # the same crop, told apart by the label alone


def test_compare_columns_run_as_upscale_would_with_the_material() -> None:
    profiles = default_profiles()
    fabric = profiles["fabric"]
    params_for = column_params({"detail": None, "preserve_color": None, "seamless": None}, "fabric", profiles)
    shown = params_for(PROFILE_COLUMN, Path("in/denim.png"), "in")
    assert (shown.model, shown.engine.detail, shown.engine.preserve_color, shown.profile) == (
        fabric.model, fabric.detail, fabric.preserve_color, "fabric")
    plain = params_for("realesrgan-x4plus", Path("in/denim.png"), "in")
    assert (plain.model, plain.engine.detail, plain.profile) == ("realesrgan-x4plus", fabric.detail, "fabric")
    # --detail given: it wins over the profile for every column, the profile's own included.
    fixed = column_params({"detail": 0.0, "preserve_color": None, "seamless": None}, "fabric", profiles)
    assert fixed(PROFILE_COLUMN, Path("a.png"), "x").engine.detail == 0
    assert fixed("realesrgan-x4plus", Path("a.png"), "x").engine.detail == 0
    # auto: the category from compare's own (folder) category, else the image's path; none: no profile.
    auto = column_params({}, "auto", profiles)
    assert auto(PROFILE_COLUMN, Path("in/rugs/01.png"), "rugs").profile == "carpet"
    assert auto(PROFILE_COLUMN, Path("in/misc/01.png"), "misc").profile is None
    assert column_params({}, None, profiles)("realesrgan-x4plus", Path("a.png"), "fabric").profile is None


def test_compare_refuses_an_unknown_material_and_a_bad_detail(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), texture(16, 16))
    result = run_cli(["compare", str(tmp_path / "a.png"), "--models", "realesr-animevideov3", "--material", "fabrc",
                      "-o", str(tmp_path / "r")], tmp_path / "data")
    assert result.returncode == 2 and "did you mean 'fabric'" in result.stderr, result.stderr
    result = run_cli(["compare", str(tmp_path / "a.png"), "--models", "realesr-animevideov3", "--detail", "3",
                      "-o", str(tmp_path / "r")], tmp_path / "data")
    assert result.returncode == 2 and "detail 3" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_compare_with_a_material_shows_its_profile_beside_the_models(tmp_path: Path, tiny_srvgg: Path) -> None:
    (tmp_path / "in" / "fabric").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "in" / "fabric" / "denim.png"), texture(16, 16))
    report = tmp_path / "r"
    # --detail 0: only the profile's own model is loaded besides the tiny one.
    result = run_cli(["compare", str(tmp_path / "in"), "--models", str(tiny_srvgg), "--material", "auto",
                      "--detail", "0", "-o", str(report), "--json"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    fabric = default_profiles()["fabric"]
    assert data["models"] == [PROFILE_COLUMN, str(tiny_srvgg)]
    assert data["images"][0]["ran"] == {PROFILE_COLUMN: f"fabric profile: {fabric.model}",
                                        str(tiny_srvgg): f"fabric profile: {tiny_srvgg}"}
    assert set(data["summary"]) == {PROFILE_COLUMN, str(tiny_srvgg)}
    page = (report / "index.html").read_text()
    assert f"fabric profile: {fabric.model}" in page
