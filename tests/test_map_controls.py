"""The map controls (relief inverted, depth, normal strength and bits, roughness mean and range):
per job on the command line and in a manifest, per material profile, recorded on the job, in
its idempotency key only when set, and refused with the name of the input when they make no map."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

from producer.sources import ManifestError, from_manifest
from producer.submit import job_rows
from tests.cli_process import run_cli
from tests.materials_support import grout, render
from upscaler.jobspec import JobRequest, idempotency_key
from upscaler.materials import MapOptions, MaterialMaps
from upscaler.materials.controls import BadControl, MapControls
from upscaler.profiles import Profile, default_profiles, params_for_material


def made(pixels: np.ndarray, controls: MapControls, category: str = "tile") -> dict[str, np.ndarray]:
    options = MapOptions(category=category, maps=("height", "normal", "roughness"), **controls.map_options())
    return {m.name: m.pixels for m in MaterialMaps(pixels, options)}


def test_each_control_changes_the_maps_it_names() -> None:
    pixels = render(grout(n=128, spacing=32, width=4, depth=8))
    plain = made(pixels, MapControls())
    inverted = made(pixels, MapControls(invert_height=True))
    correlation = np.corrcoef(plain["height"].ravel().astype(float), inverted["height"].ravel().astype(float))[0, 1]
    assert correlation < -0.9, correlation   # the relief read upside down
    assert plain["normal"].dtype == np.uint8 and made(pixels, MapControls(normal_bits=16))["normal"].dtype == np.uint16

    def tilt(normal: np.ndarray) -> float:   # mean deviation of the normals' red/green from flat
        return float(np.abs(normal[:, :, 1:].astype(float) - 127.5).mean())

    deep = made(pixels, MapControls(depth=0.03))["normal"]
    assert tilt(deep) > 1.5 * tilt(plain["normal"])
    assert tilt(made(pixels, MapControls(normal_strength=3.0))["normal"]) > 1.5 * tilt(plain["normal"])
    assert tilt(made(pixels, MapControls(normal_strength=0.0))["normal"]) < 1.0   # flat
    fixed = made(pixels, MapControls(roughness=0.9, roughness_range=0.0))["roughness"]
    assert np.abs(fixed.astype(int) - round(0.9 * 255)).max() <= 1
    wide = made(pixels, MapControls(roughness=0.5, roughness_range=0.4))["roughness"].astype(float)
    narrow = made(pixels, MapControls(roughness=0.5, roughness_range=0.05))["roughness"].astype(float)
    assert wide.std() > 3 * narrow.std()


@pytest.mark.parametrize("given, control", [
    ({"depth": 0}, "depth"), ({"depth": -0.01}, "depth"), ({"depth": float("nan")}, "depth"), ({"depth": 2}, "depth"),
    ({"normal_strength": -1}, "normal_strength"), ({"roughness": 1.5}, "roughness"),
    ({"roughness_range": -0.1}, "roughness_range"), ({"normal_bits": 12}, "normal_bits"),
    ({"normal_bits": True}, "normal_bits"), ({"invert_height": "yes"}, "invert_height"), ({"depth": "0.01"}, "depth"),
])
def test_a_value_that_makes_no_map_is_refused_naming_its_control(given: dict, control: str) -> None:
    with pytest.raises(BadControl, match=f"^{control} ") as raised:
        MapControls(**given)
    assert raised.value.control == control
    with pytest.raises(ValueError, match=control):
        JobRequest.from_fields(map_controls=given)


def test_jobs_stored_before_the_map_controls_keep_their_idempotency_keys() -> None:
    # A brick job with maps as stored before the map controls existed, and its key then (frozen).
    stored = {"tile": 200, "tile_pad": 12, "outscale": 4.0, "alpha": "bicubic", "format": "auto", "quality": 95,
              "seamless": False, "preserve_color": False, "maps": ["basecolor", "normal"], "material": "brick",
              "profile": "brick", "detail": 0.625}
    params = JobRequest.from_json(stored, "realesr-animevideov3")
    assert params.to_json() == stored and params.maps.controls == MapControls()
    key = idempotency_key("s3://b/brick.png", "e1", params, "s3://b/out/brick.png")
    assert key == "aa2a68a77f2095c2552d1460975835384cc1bc3e733afffd3890bdbcd21bb537"
    # Set, the controls are one nested object of those set, and a different key.
    inverted = JobRequest.from_json({**stored, "map_controls": {"invert_height": True, "depth": 0.01}},
                                    "realesr-animevideov3")
    assert inverted.to_json() == {**stored, "map_controls": {"invert_height": True, "depth": 0.01}}
    assert idempotency_key("s3://b/brick.png", "e1", inverted, "s3://b/out/brick.png") != key
    # Given at their defaults they are not set: the key stays.
    at_default = JobRequest.from_json({**stored, "map_controls": {"normal_bits": 8}}, "realesr-animevideov3")
    assert idempotency_key("s3://b/brick.png", "e1", at_default, "s3://b/out/brick.png") == key
    with pytest.raises(ValueError, match="map controls bump"):
        JobRequest.from_json({**stored, "map_controls": {"bump": 1}})


def test_a_profile_sets_the_controls_a_request_left_alone() -> None:
    profiles = {**default_profiles(), "brick": Profile("brick", "realesr-animevideov3",
                                                       map_controls={"invert_height": True, "depth": 0.02})}
    asked = JobRequest.from_fields(material="brick", map_controls=MapControls(depth=0.005), fixed=("depth",))
    params, warning = params_for_material(asked, None, profiles)
    assert warning is None and params.profile == "brick"
    assert params.maps.controls == MapControls(invert_height=True, depth=0.005)
    untouched, _ = params_for_material(JobRequest.from_fields(material="brick"), None, profiles)
    assert untouched.maps.controls == MapControls(invert_height=True, depth=0.02)


def manifest(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "catalogue.csv"
    path.write_text("source_uri,etag,material,invert_height,depth,normal_bits\n" + "\n".join(rows) + "\n")
    return path


def test_a_manifest_row_sets_controls_over_the_profile_and_the_request(tmp_path: Path) -> None:
    path = manifest(tmp_path, "/data/a.png,e1,brick,yes,0.02,16", "/data/b.png,e2,brick,,,", "/data/c.png,e3,,no,,")
    images = list(from_manifest(None, path))
    assert [i.map_controls for i in images] == [(("invert_height", True), ("depth", 0.02), ("normal_bits", 16)), (),
                                                (("invert_height", False),)]
    asked = JobRequest.from_fields(maps=("normal",), map_controls=MapControls(invert_height=True, roughness=0.4),
                                   fixed=("invert_height", "roughness"))
    rows, _, _ = job_rows(uuid.uuid4(), images, "/out/", asked)
    stored = {Path(r.source_uri).name: r.params.get("map_controls") for r in rows}
    assert stored == {"a.png": {"invert_height": True, "depth": 0.02, "roughness": 0.4, "normal_bits": 16},
                      "b.png": {"invert_height": True, "roughness": 0.4},
                      "c.png": {"roughness": 0.4}}


@pytest.mark.parametrize("row, named", [("/data/a.png,e1,,maybe,,", "invert_height 'maybe'"),
                                        ("/data/a.png,e1,,,deep,", "depth 'deep' is not a number"),
                                        ("/data/a.png,e1,,,-1,", "depth -1.0"),
                                        ("/data/a.png,e1,,,,10", "normal_bits 10")])
def test_a_bad_manifest_cell_refuses_the_manifest_naming_its_line_and_column(tmp_path: Path, row: str,
                                                                            named: str) -> None:
    with pytest.raises(ManifestError, match=f"catalogue.csv:3: {named}"):
        list(from_manifest(None, manifest(tmp_path, "/data/ok.png,e0,,,,", row)))


@pytest.fixture
def swatch(tmp_path: Path) -> Path:
    path = tmp_path / "in" / "brick_red.png"
    path.parent.mkdir()
    cv2.imwrite(str(path), render(grout(n=32, spacing=16, width=2, depth=4)))
    return path


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_upscale_takes_the_controls_and_records_them(tmp_path: Path, tiny_srvgg: Path, swatch: Path) -> None:
    out = tmp_path / "out"
    result = run_cli(["upscale", str(swatch), "-o", str(out), "--model", str(tiny_srvgg), "--material", "none",
                      "--maps", "height,normal", "--invert-height", "--normal-bits", "16", "--depth", "0.01",
                      "--json"], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["results"][0]["map_controls"] == {"invert_height": True, "depth": 0.01, "normal_bits": 16}
    assert cv2.imread(str(out / "brick_red" / "normal.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    text = run_cli(["upscale", str(swatch), "-o", str(tmp_path / "out2"), "--model", str(tiny_srvgg), "--material",
                    "none", "--maps", "normal", "--roughness", "0.3"], tmp_path / "data")
    assert "map controls roughness=0.3" in text.stderr, text.stderr


@pytest.mark.parametrize("option, value", [("--depth", "-1"), ("--normal-bits", "12"), ("--roughness", "2"),
                                           ("--roughness-range", "-0.5"), ("--normal-strength", "nan")])
def test_upscale_refuses_a_bad_control_naming_the_option(tmp_path: Path, swatch: Path, option: str, value: str) -> None:
    result = run_cli(["upscale", str(swatch), "-o", str(tmp_path / "out"), "--maps", "all", option, value],
                     tmp_path / "data")
    assert result.returncode == 2, result.stderr
    assert f"Invalid value for {option}" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_profiles_store_the_controls_and_jobs_of_their_category_get_them(tmp_path: Path, tiny_srvgg: Path,
                                                                         swatch: Path) -> None:
    data = tmp_path / "data"
    assert run_cli(["profiles", "set", "brick", "--invert-height", "--depth", "0.02"], data).returncode == 0
    shown = run_cli(["profiles", "show", "brick", "--json"], data)
    assert json.loads(shown.stdout)["map_controls"] == {"invert_height": True, "depth": 0.02}
    listed = run_cli(["profiles", "list"], data)
    assert "brick map controls: invert_height depth=0.02" in listed.stdout
    refused = run_cli(["profiles", "set", "brick", "--normal-bits", "12"], data)
    assert refused.returncode == 1 and "normal_bits 12: choose 8 or 16" in refused.stderr
    # The file's name gives brick: its profile's controls, but the depth this job gives.
    result = run_cli(["upscale", str(swatch), "-o", str(tmp_path / "out"), "--model", str(tiny_srvgg), "--detail", "0",
                      "--maps", "normal", "--depth", "0.005", "--json"], data)
    assert result.returncode == 0, result.stderr
    job = json.loads(result.stdout)["results"][0]
    assert job["profile"] == "brick" and job["map_controls"] == {"invert_height": True, "depth": 0.005}
    assert run_cli(["profiles", "set", "brick", "--clear-map-controls", "--roughness", "0.7"], data).returncode == 0
    assert json.loads(run_cli(["profiles", "show", "brick", "--json"], data).stdout)["map_controls"] == {"roughness": 0.7}
