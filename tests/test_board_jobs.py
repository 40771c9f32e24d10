"""Board-ready materials as a job's step: the options of ``upscale``, ``submit`` and ``watch add``,
a manifest's ``tileable``, ``repeat`` and ``width_mm`` columns, the step in the shared output path
(the image made a tile, the maps made with wrap-around, the real size in the material files, the
warnings), and the whole job on the embedded default (SQLite, the in-process worker, the no-op
engine). The S3 job path with real services: test_board_jobs_s3.py.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from db.models import Job, JobStatus
from db.session import session_scope
from producer.sources import ManifestError, from_manifest
from producer.submit import job_rows
from tests.textures import natural_texture
from upscaler.board import BoardOptions, parse_repeat
from upscaler.evaluation.image_metrics import wrap_seam_score
from upscaler.jobspec import JobRequest, idempotency_key, repeat_spelling
from upscaler.processing import UpscaledImage, write_outputs
from upscaler.storage import Storage

runner = CliRunner()
NO_TEXTURE = "almost no texture"
TOO_SMALL = "too small to make tileable"


# -- job parameters --------------------------------------------------------------------------

def test_jobs_stored_before_the_board_fields_keep_their_idempotency_keys() -> None:
    # What a wood job with maps stored before the board-ready fields existed.
    stored = {"tile": 200, "tile_pad": 12, "outscale": 4.0, "alpha": "bicubic", "format": "auto", "quality": 95,
              "seamless": False, "preserve_color": False, "maps": ["basecolor", "normal"], "material": "wood"}
    params = JobRequest.from_json(stored, "realesrgan-x4plus")
    assert params.to_json() == stored
    key = idempotency_key("s3://b/oak.png", "e1", params, "s3://b/out/oak.png")
    assert key == idempotency_key("s3://b/oak.png", "e1", JobRequest.from_json(dict(stored), "realesrgan-x4plus"),
                                  "s3://b/out/oak.png")
    tileable = JobRequest.from_json({**stored, "make_tileable": True, "width_mm": 600}, "realesrgan-x4plus")
    assert tileable.to_json() == {**stored, "make_tileable": True, "width_mm": 600.0}
    assert idempotency_key("s3://b/oak.png", "e1", tileable, "s3://b/out/oak.png") != key


@pytest.mark.parametrize("text", ["auto", " AUTO ", "4x3", "4 X 3", "2×5", "1x1", "0x1", "x3", "3", "auto4", "-1x2"])
def test_repeat_is_spelled_and_refused_as_the_board_reads_it(text: str) -> None:
    try:
        board = BoardOptions(repeat=parse_repeat(text)).repeat
    except ValueError:
        board = ValueError
    if board is ValueError:
        with pytest.raises(ValueError, match="repeat"):
            repeat_spelling(text)
    else:
        spelled = repeat_spelling(text)
        assert spelled == (board if board == "auto" else f"{board[0]}x{board[1]}")
        assert JobRequest.from_fields(repeat=text).board.repeat == spelled


@pytest.mark.parametrize("width", [0, -5.0, float("nan"), float("inf"), True, "600"])
def test_a_width_that_is_no_length_is_refused(width) -> None:
    with pytest.raises(ValueError, match="width_mm"):
        JobRequest.from_fields(width_mm=width)


def test_the_board_step_runs_only_when_asked() -> None:
    assert not JobRequest().board_ready
    assert all(JobRequest.from_fields(**given).board_ready for given in
               ({"make_tileable": True}, {"repeat": "auto"}, {"width_mm": 500.0}))


# -- the command line --------------------------------------------------------------------------

def write_image(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), pixels)
    return path


@pytest.mark.parametrize("command", ["upscale", "submit", "watch add"])
def test_every_job_command_refuses_a_bad_repeat_or_width_naming_it(embedded: Path, command: str) -> None:
    args = {"upscale": ["upscale", str(embedded), "-o", str(embedded / "o")],
            "submit": ["submit", str(embedded), "--output", str(embedded / "o")],
            "watch add": ["watch", "add", "inbox", "s3://in/box/", "--output", "s3://out/box/"]}[command]
    repeat = runner.invoke(app, [*args, "--make-tileable", "--repeat", "3by2"])
    assert repeat.exit_code == 2 and "repeat '3by2'" in " ".join(repeat.output.split())
    width = runner.invoke(app, [*args, "--width-mm", "-60"])
    assert width.exit_code == 2 and "width_mm -60" in " ".join(width.output.split())


def test_watch_add_stores_the_board_options_for_the_nightly_jobs(embedded: Path) -> None:
    result = runner.invoke(app, ["watch", "add", "inbox", "s3://in/box/", "--output", "s3://out/box/",
                                 "--make-tileable", "--repeat", "auto", "--width-mm", "450"])
    assert result.exit_code == 0, result.output
    (watch,) = json.loads(runner.invoke(app, ["watch", "list", "--json"]).stdout)
    assert (watch["params"]["make_tileable"], watch["params"]["repeat"], watch["params"]["width_mm"]) == (
        True, "auto", 450.0)


def test_upscale_writes_the_tile_and_prints_its_report(tmp_path: Path) -> None:
    source = write_image(tmp_path / "in" / "oak.png", natural_texture(40, 48, seed=11))
    blank = write_image(tmp_path / "in" / "blank.png", np.full((40, 40, 3), 90, np.uint8))
    result = runner.invoke(app, ["upscale", str(source), str(blank), "-o", str(tmp_path / "out"), "--model",
                                 "realesr-animevideov3", "--make-tileable", "--width-mm", "240", "--json"])
    assert result.exit_code == 0, result.output
    oak, plain = json.loads(result.stdout)["results"]
    assert oak["board"]["tileable"] and oak["output_size"] == oak["board"]["output_size"] != [192, 160]
    assert cv2.imread(oak["output"]).shape[:2] == tuple(reversed(oak["output_size"]))
    assert oak["board"]["size_mm"] == [round(oak["output_size"][0] * 240 / 192, 3),
                                       round(oak["output_size"][1] * 240 / 192, 3)]
    assert plain["output_size"] == [160, 160] and any(NO_TEXTURE in w for w in plain["warnings"])


# -- manifest columns --------------------------------------------------------------------------

def manifest_of(tmp_path: Path, header: str, *rows: str) -> Path:
    path = tmp_path / "catalogue.csv"
    path.write_text(header + "\n" + "".join(row + "\n" for row in rows))
    return path


def test_manifest_board_columns_set_each_rows_parameters(tmp_path: Path) -> None:
    for name in ("oak", "felt", "slate", "plain"):
        (tmp_path / f"{name}.png").write_bytes(b"png")
    manifest = manifest_of(tmp_path, "source_uri,material,tileable,repeat,width_mm",
                           f"{tmp_path}/oak.png,wood,yes,,600", f"{tmp_path}/felt.png,fabric,,auto,",
                           f"{tmp_path}/slate.png,stone,no,,1200.5", f"{tmp_path}/plain.png,,,,")
    images = list(from_manifest(Storage(), manifest))
    request = JobRequest.from_fields(model="m", make_tileable=True, repeat="2x2")
    rows, _, _ = job_rows(uuid.uuid4(), images, str(tmp_path / "out"), request)
    got = {Path(r.source_uri).stem: (r.params.get("make_tileable", False), r.params.get("repeat"),
                                     r.params.get("width_mm")) for r in rows}
    assert got == {"oak": (True, "2x2", 600.0), "felt": (True, "auto", None), "slate": (False, None, 1200.5),
                   "plain": (True, "2x2", None)}
    # A row without board columns is the request's own job: the same key as without a manifest column.
    plain_rows, _, _ = job_rows(uuid.uuid4(), [images[3]], str(tmp_path / "out"), request)
    assert plain_rows[0].idempotency_key == next(r.idempotency_key for r in rows if r.source_uri.endswith("plain.png"))


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("tileable", "maybe", "tileable 'maybe': give yes or no"),
    ("repeat", "3by2", "repeat '3by2'"),
    ("repeat", "0x2", "repeat '0x2'"),
    ("width_mm", "60cm", "width_mm '60cm' is not a positive number of millimetres"),
    ("width_mm", "-600", "width_mm '-600' is not a positive number"),
    ("width_mm", "inf", "width_mm 'inf' is not a positive number"),
])
def test_a_bad_board_cell_refuses_the_manifest_naming_its_line(tmp_path: Path, column: str, value: str,
                                                               reason: str) -> None:
    (tmp_path / "a.png").write_bytes(b"png")
    manifest = manifest_of(tmp_path, f"source_uri,{column}", f"{tmp_path}/a.png,", f"{tmp_path}/a.png,{value}")
    with pytest.raises(ManifestError) as caught:
        list(from_manifest(Storage(), manifest))
    assert f"{manifest}:3: {reason}" in str(caught.value)


# -- the step in the shared output path ------------------------------------------------------------

def written_for(tmp_path: Path, pixels: np.ndarray, name: str = "oak", **params) -> tuple:
    target = tmp_path / f"{name}.png"
    upscaled = UpscaledImage(pixels, "png", (pixels.shape[1] // 4, pixels.shape[0] // 4), {})
    written = write_outputs(upscaled, JobRequest.from_fields(maps=("all",), **params), Storage(), str(target), material="wood")
    return written, upscaled, target


def test_a_made_tileable_output_is_the_tile_with_maps_that_tile_and_its_real_size(tmp_path: Path) -> None:
    photo = natural_texture(256, 320, seed=3)
    photo[:, :, :] = np.clip(photo * np.linspace(0.8, 1.2, 320)[None, :, None], 0, 255).astype(np.uint8)  # a light ramp
    written, upscaled, target = written_for(tmp_path, photo, make_tileable=True, width_mm=640.0)
    tile = cv2.imread(str(target))
    report = written.board
    assert report["tileable"] and tile.shape[:2] == (report["output_size"][1], report["output_size"][0])
    assert upscaled.output_size == tuple(report["output_size"]) and tile.shape[:2] != photo.shape[:2]
    assert wrap_seam_score(tile) < 1.25 < wrap_seam_score(photo)
    # The maps come from the tile and wrap around, so they tile too.
    for name in ("normal", "roughness", "height"):
        made = cv2.imread(str(tmp_path / "oak" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        assert made.shape[:2] == tile.shape[:2] and wrap_seam_score(made) < 1.25, name
    mm = 640.0 / photo.shape[1]
    size = [round(tile.shape[1] * mm, 3), round(tile.shape[0] * mm, 3)]
    assert report["size_mm"] == size
    gltf = json.loads((tmp_path / "oak" / "material.gltf").read_text())
    assert gltf["materials"][0]["extras"]["size_mm"] == size
    scale = gltf["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["extensions"]["KHR_texture_transform"]
    assert scale["scale"] == pytest.approx([1000 / size[0], 1000 / size[1]])
    assert f'realworldimagesize" type="vector2" value="{size[0]:g}, {size[1]:g}"' in (
        tmp_path / "oak" / "material.mtlx").read_text().replace("'", '"')
    assert "3 x 3 tiles of" in (tmp_path / "oak" / "preview.html").read_text()


@pytest.mark.parametrize(("pixels", "warning"), [
    (np.full((200, 240, 3), 128, np.uint8), NO_TEXTURE),
    (natural_texture(16, 20, seed=1), TOO_SMALL),
])
def test_bad_input_gives_the_plain_result_and_a_warning_on_the_job_and_the_page(tmp_path: Path, pixels: np.ndarray,
                                                                               warning: str) -> None:
    written, upscaled, target = written_for(tmp_path, pixels.copy(), make_tileable=True, repeat="auto", width_mm=300)
    assert not written.board["tileable"] and any(warning in w for w in written.warnings)
    assert np.array_equal(cv2.imread(str(target)), pixels)
    assert written.board["size_mm"] == [300.0, round(300.0 * pixels.shape[0] / pixels.shape[1], 3)]
    assert warning in (tmp_path / "oak" / "preview.html").read_text()


def test_a_pbr_warning_is_recorded_without_changing_the_image(tmp_path: Path) -> None:
    dark = (natural_texture(120, 120, seed=2) * 0.25).astype(np.uint8)  # baked shadow: far below 50 sRGB
    written, _, target = written_for(tmp_path, dark.copy(), width_mm=200)
    assert np.array_equal(cv2.imread(str(target)), dark) and written.board["pbr"]["too_dark"] > 0.5
    assert any("outside the physically plausible range" in w for w in written.warnings)
    assert "physically plausible" in (tmp_path / "oak" / "preview.html").read_text()


def test_without_board_options_nothing_changes(tmp_path: Path) -> None:
    photo = natural_texture(64, 64, seed=4)
    written, _, target = written_for(tmp_path, photo.copy())
    assert written.board is None and np.array_equal(cv2.imread(str(target)), photo)
    assert "extras" not in json.loads((tmp_path / "oak" / "material.gltf").read_text())["materials"][0]


# -- the whole job, in process ---------------------------------------------------------------------

def test_a_manifest_of_board_rows_runs_through_the_in_process_worker(embedded: Path) -> None:
    src = embedded / "src"
    write_image(src / "oak.png", natural_texture(48, 64, seed=5))
    write_image(src / "felt.png", np.tile(natural_texture(16, 16, seed=6), (3, 4, 1)))
    write_image(src / "blank.png", np.full((40, 40, 3), 200, np.uint8))
    manifest = manifest_of(embedded, "source_uri,material,tileable,repeat,width_mm",
                           f"{src}/oak.png,wood,yes,,600", f"{src}/felt.png,fabric,,4x3,300",
                           f"{src}/blank.png,plaster,yes,,")
    out = embedded / "out"
    result = runner.invoke(app, ["submit", "--manifest", str(manifest), "--output", str(out), "--maps", "all",
                                 "--wait", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["counts"]["succeeded"] == 3 and summary["board_tiles"] == 2
    assert any(NO_TEXTURE in w for noted in summary["warnings"] if noted["source_uri"].endswith("blank.png")
               for w in noted["warnings"])
    with session_scope() as session:
        jobs = {Path(j.source_uri).stem: j for j in session.scalars(select(Job))}
    assert all(j.status == JobStatus.succeeded for j in jobs.values())
    oak, felt, blank = jobs["oak"], jobs["felt"], jobs["blank"]
    assert oak.board["tileable"] and (oak.output_width, oak.output_height) == tuple(oak.board["output_size"])
    assert cv2.imread(str(out / "oak.png")).shape[:2] == (oak.output_height, oak.output_width)
    gltf = json.loads((out / "oak" / "material.gltf").read_text())
    assert gltf["materials"][0]["extras"]["size_mm"] == oak.board["size_mm"]
    # 16 px repeats, x4: a period of 64 px, recorded in px and mm (300 mm over 256 px).
    assert felt.board["method"] == "repeat" and felt.board["period_px"] == pytest.approx([64, 64], abs=0.7)
    assert felt.board["period_mm"] == pytest.approx([64 * 300 / 256] * 2, abs=1)
    assert not blank.board["tileable"] and blank.output_width == 160
    text = runner.invoke(app, ["status", summary["batch_id"]])
    assert "2 images made board-ready tiles" in text.stderr and NO_TEXTURE in " ".join(text.stderr.split())


# -- compare --make-tileable -------------------------------------------------------------------------

def test_compare_shows_each_category_tiled_before_and_after_make_tileable(tmp_path: Path) -> None:
    from upscaler.evaluation.labels import label_height
    from upscaler.evaluation.tileable_sheet import LABEL_LINE, SHEET_CELL

    write_image(tmp_path / "in" / "wood" / "oak.png", natural_texture(48, 56, seed=9))
    write_image(tmp_path / "in" / "stone" / "slate.png", natural_texture(40, 40, seed=10))
    write_image(tmp_path / "in" / "wallpaper" / "blank.png", np.full((40, 40, 3), 180, np.uint8))
    out = tmp_path / "report"
    result = runner.invoke(app, ["compare", str(tmp_path / "in"), "--models", "realesr-animevideov3",
                                 "--make-tileable", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    pairs = {p["category"]: p for p in json.loads(result.stdout)["tileable"]}
    assert pairs == {p["category"]: p for p in json.loads((out / "tileable.json").read_text())}
    for category in ("wood", "stone"):
        assert pairs[category]["tileable"] and pairs[category]["seam_score_after"] < 1.25 < pairs[category][
            "seam_score_before"]
    assert not pairs["wallpaper"]["tileable"] and NO_TEXTURE in pairs["wallpaper"]["warnings"][0]
    sheet = cv2.imread(str(out / "tileable.png"))
    # Each row as tall as its longer label needs (two lines at least: the name, the model and score).
    assert sheet.shape[1] == 2 * (SHEET_CELL + 4)
    assert sheet.shape[0] >= 3 * (SHEET_CELL + label_height(2, LABEL_LINE) + 4)
