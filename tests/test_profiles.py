"""Material profiles: the measured defaults, operators' settings in SQL, and each job's choice.

A job with a material runs its category's profile (model, detail, preserve-colour, seamless,
format) except where the requester fixed a setting; an unknown category runs ``other`` with a
warning; the job row records the profile, model and detail it ran with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.textures import texture
from upscaler.imageio import encode
from upscaler.jobspec import JobRequest
from upscaler.materials.names import CATEGORIES
from upscaler.profiles import (
    Profile,
    apply_profile,
    category_for,
    default_profiles,
    params_for_material,
)
from upscaler.settings import get_settings


@pytest.fixture
def sqlite_db(tmp_path: Path, isolated_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from db.migrate import upgrade

    monkeypatch.setenv("UPSCALER_DATABASE_URL", f"sqlite:///{tmp_path / 'jobs.sqlite3'}")
    get_settings.cache_clear()
    upgrade()
    yield tmp_path
    get_settings.cache_clear()


def test_the_shipped_defaults_cover_every_category_and_come_from_the_benchmark() -> None:
    defaults = default_profiles()
    assert tuple(defaults) == CATEGORIES
    data = json.loads((Path(__file__).parent.parent / "upscaler" / "profile_defaults.json").read_text())
    assert data["source"].startswith("bench/texture.py")
    for name, profile in defaults.items():
        assert 0.0 <= profile.detail <= 1.0 and profile.name == name
    # Fabric and carpet lose the most texture to x4plus alone: their profiles mix in texture.
    assert defaults["fabric"].detail > 0 and defaults["carpet"].detail > 0


def test_a_profile_sets_what_the_request_did_not_fix() -> None:
    fabric = Profile("fabric", "realesrgan-x4plus", detail=1.0, preserve_color=True, format="png")
    free = apply_profile(JobRequest(), fabric)
    assert (free.engine.detail, free.engine.preserve_color, free.output.format, free.profile) == (1.0, True, "png", "fabric")
    fixed = apply_profile(JobRequest.from_fields(detail=0.25, preserve_color=False, fixed=("detail", "preserve_color")), fabric)
    assert (fixed.engine.detail, fixed.engine.preserve_color, fixed.output.format) == (0.25, False, "png")
    assert fixed.fixed == () and "fixed" not in fixed.to_json()  # a job's parameters are final


def test_material_names_synonyms_and_unknown_categories() -> None:
    assert category_for("Tiles ") == ("tile", None)
    assert category_for("rug") == ("carpet", None)
    name, warning = category_for("moss")
    assert name == "other" and "'moss'" in warning and "fabric" in warning
    profiles = default_profiles()
    same, none = params_for_material(JobRequest.from_fields(seamless=True), None, profiles)
    assert same == JobRequest.from_fields(seamless=True) and none is None
    # The row's own material wins over the request's.
    params, _ = params_for_material(JobRequest.from_fields(material="wood"), "fabric", profiles)
    assert params.profile == "fabric"
    params, _ = params_for_material(JobRequest.from_fields(material="wood"), None, profiles)
    assert params.profile == "wood"


def test_operators_set_and_reset_profiles_in_sql(sqlite_db: Path) -> None:
    from db.profiles import current_profile, current_profiles, reset_profile, set_profile
    from db.session import session_scope

    with session_scope() as session:
        set_profile(session, "Tiles", detail=0.5, seamless=True)
    with session_scope() as session:
        tile, operator_set = current_profile(session, "tile")
        assert operator_set and (tile.detail, tile.seamless) == (0.5, True)
        assert tile.preserve_color == default_profiles()["tile"].preserve_color  # not given: unchanged
        assert sum(was_set for _, was_set in current_profiles(session).values()) == 1
        with pytest.raises(ValueError, match="moss"):
            set_profile(session, "moss", detail=0.5)
        with pytest.raises(ValueError, match="detail"):
            set_profile(session, "wood", detail=1.5)
    with session_scope() as session:
        assert reset_profile(session, "tile") == default_profiles()["tile"]
    with session_scope() as session:
        assert current_profile(session, "tile") == (default_profiles()["tile"], False)


def test_a_manifest_runs_each_row_with_its_profile_and_the_job_row_records_it(sqlite_db: Path) -> None:
    from db.models import Job
    from db.profiles import set_profile
    from db.session import session_scope
    from producer.submit import create_batch

    for name in ("denim", "rug", "plank", "moss", "plain"):
        (sqlite_db / f"{name}.png").write_bytes(encode(texture(8, 8), "png"))
    manifest = sqlite_db / "catalogue.csv"
    manifest.write_text("source_uri,material\n" + "".join(
        f"{sqlite_db / name}.png,{material}\n"
        for name, material in [("denim", "fabric"), ("rug", "Carpet"), ("plank", "wood"), ("moss", "moss"),
                               ("plain", "")]))
    with session_scope() as session:
        set_profile(session, "wood", detail=0.3, format="jpeg")
    # --preserve-color given: every profile keeps it off.
    request = JobRequest.from_fields(preserve_color=False, fixed=("preserve_color",))
    result = create_batch([], str(sqlite_db / "out"), manifest=manifest, params=request)
    assert result.created == 5 and len(result.warnings) == 1 and "'moss'" in result.warnings[0]
    with session_scope() as session:
        jobs = {Path(j.source_uri).stem: j for j in session.scalars(select(Job))}
    defaults = default_profiles()
    expected = {"denim": ("fabric", defaults["fabric"].detail), "rug": ("carpet", defaults["carpet"].detail),
                "plank": ("wood", 0.3), "moss": ("other", defaults["other"].detail), "plain": (None, None)}
    assert {stem: (j.profile, j.detail) for stem, j in jobs.items()} == expected
    # Each profiled row runs its category's default model (the wood row's profile in SQL changed
    # only detail and format); the row without a material, the request's.
    models = {stem: (defaults[profile].model if profile else "realesrgan-x4plus")
              for stem, (profile, _) in expected.items()}
    assert {stem: j.model for stem, j in jobs.items()} == models
    assert all(not j.params["preserve_color"] for j in jobs.values())
    assert jobs["plank"].output_uri.endswith("plank.jpg")  # the wood profile's format, as set in SQL
    assert jobs["denim"].params["profile"] == "fabric" and "fixed" not in jobs["denim"].params
    assert "profile" not in jobs["plain"].params  # no material: the request as it was

    again = create_batch([], str(sqlite_db / "out"), manifest=manifest, params=request)
    assert (again.created, again.duplicates) == (0, 5)  # the same rows, the same jobs


@pytest.mark.slow
def test_profiles_on_the_command_line(sqlite_db: Path) -> None:
    import os

    env = {**os.environ}
    run = lambda *args: subprocess.run([sys.executable, "-m", "cli.main", *args], env=env,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    listed = run("profiles", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == list(CATEGORIES)
    assert run("profiles", "set", "carpet", "--detail", "0.4", "--no-preserve-color").returncode == 0
    shown = json.loads(run("profiles", "show", "rug", "--json").stdout)
    assert (shown["name"], shown["detail"], shown["preserve_color"], shown["source"]) == ("carpet", 0.4, False, "set")
    unknown = run("profiles", "show", "moss")
    assert unknown.returncode == 1 and "moss" in unknown.stderr and "fabric" in unknown.stderr
    assert run("profiles", "reset", "carpet").returncode == 0
    assert json.loads(run("profiles", "show", "carpet", "--json").stdout)["source"] == "default"


@pytest.mark.slow
def test_upscale_with_a_material_runs_its_profile(sqlite_db: Path, tiny_srvgg: Path) -> None:
    import os

    from db.profiles import set_profile
    from db.session import session_scope

    with session_scope() as session:
        set_profile(session, "fabric", model=str(tiny_srvgg), detail=0.0, format="jpeg")
        set_profile(session, "other", model=str(tiny_srvgg), detail=0.0, format="webp")
    (sqlite_db / "in").mkdir()
    (sqlite_db / "in" / "denim.png").write_bytes(encode(texture(8, 8), "png"))

    def upscale(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "cli.main", "upscale", str(sqlite_db / "in"), "-o",
                               str(sqlite_db / "out"), "--json", *args], env={**os.environ}, capture_output=True,
                              text=True, timeout=300)

    fabric = upscale("--material", "Fabrics")
    assert fabric.returncode == 0, fabric.stderr
    report = json.loads(fabric.stdout)
    assert (report["profile"], report["model"], report["detail"]) == ("fabric", str(tiny_srvgg), 0.0)
    assert report["results"][0]["output"].endswith("denim.jpg")
    # What is given wins over the profile; an unknown material runs 'other', with a warning.
    moss = upscale("--material", "moss", "--format", "png")
    assert moss.returncode == 0, moss.stderr
    assert json.loads(moss.stdout)["profile"] == "other" and "'moss'" in moss.stderr
    assert json.loads(moss.stdout)["results"][0]["output"].endswith("denim.png")
