"""Every object a job writes is its own, whole, and where the job says.

- material sets: a job with ``--maps`` writes its image and a folder beside it (``slate.png`` ->
  ``slate/``); no two sources may share any of those objects (``slate.png`` and ``slate.jpg``
  share the folder; ``oak.png``'s set holds ``oak/basecolor.png``), in one submission or across
  batches, on SQLite and PostgreSQL; names compare in Unicode NFC (``café`` composed and
  decomposed is one name on macOS) and case-folded;
- an output prefix that holds a source is refused (``submit``, ``watch add``);
- a local output folder swapped for a symlink into the source after submit: the write is
  refused where it would really land, and the source is untouched;
- a set written halfway (a map refused by S3) leaves nothing: sets are staged under the job's
  id and promoted whole; S3 user metadata stays under AWS's 2 KB.
"""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from db.models import Job, JobStatus
from db.session import session_scope
from tests.faulty_s3 import FaultyS3, Rules
from tests.textures import texture
from upscaler.imageio import encode
from upscaler.jobspec import JobRequest
from upscaler.settings import get_settings
from workers.core import runtime

runner = CliRunner()
SET = {"basecolor.png", "height.png", "normal.png", "ao.png", "roughness.png", "orm.png", "material.gltf",
       "material.mtlx", "preview.html"}


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch) -> Path:
    """A private data dir (its own SQLite database), local folders, the no-op engine."""
    for name in ("UPSCALER_BROKER_URL", "UPSCALER_DATABASE_URL", "UPSCALER_TILE", "UPSCALER_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UPSCALER_ENGINE_NOOP", "1")
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    runtime._storage_for.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    runtime._storage_for.cache_clear()


def image(path: Path, seed: int = 0, size: int = 8) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imencode(path.suffix, texture(size, size, seed=seed))[1].tofile(str(path))
    return path


def all_jobs() -> list[Job]:
    with session_scope() as session:
        return list(session.scalars(select(Job).order_by(Job.source_uri)))


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


NFC, NFD = unicodedata.normalize("NFC", "café"), unicodedata.normalize("NFD", "café")


def test_material_sets_that_would_share_objects_collide(embedded: Path) -> None:
    src, out = embedded / "src", embedded / "out"
    for seed, name in enumerate(["slate.png", "slate.jpg", "oak.png", "oak/basecolor.png"]):
        image(src / name, seed)
    result = runner.invoke(app, ["submit", str(src), "--output", str(out), "--maps", "all", "--wait", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if report["summary"]["counts"]["failed"] else 0), result.output  # refused = failed
    assert report["created"] == 4 and report["collisions"] == 2
    jobs = {Path(j.source_uri).relative_to(src).as_posix(): j for j in all_jobs()}
    # The first source in URI order keeps the objects; the later one is refused, never run.
    for winner, loser in (("slate.jpg", "slate.png"), ("oak.png", "oak/basecolor.png")):
        assert jobs[winner].status == JobStatus.succeeded, jobs[winner].error_message
        assert jobs[loser].status == JobStatus.failed and jobs[loser].error_code == "output_collision"
        assert jobs[winner].source_uri in jobs[loser].error_message
    # Each set whole, in its own folder; nothing staged is left behind.
    written = files_under(out)
    assert {"slate.jpg", "oak.png"} <= set(written)
    for folder in ("slate", "oak"):
        assert {name for name in written if name.startswith(folder + "/")} == {f"{folder}/{f}" for f in SET}
    assert not [name for name in written if ".staging" in name or name.endswith(".part")]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path: Path, monkeypatch) -> str:
    from db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'sets.sqlite3'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    monkeypatch.setenv("UPSCALER_DATABASE_URL", url)
    monkeypatch.delenv("UPSCALER_BROKER_URL", raising=False)
    get_settings.cache_clear()
    upgrade(url)
    yield url
    get_settings.cache_clear()


def test_sets_collide_with_earlier_batches(db_url: str, tmp_path: Path) -> None:
    """Each pair: the first source's batch, then another source's: refused as a collision."""
    from producer.submit import create_batch

    out = str(tmp_path / "out")
    maps = JobRequest.from_fields(maps="all")
    pairs = [
        (("a", "oak.png", maps), ("b", "oak/basecolor.png", JobRequest())),      # an image inside a set
        (("c", "tile/a.png", JobRequest()), ("d", "tile.png", maps)),            # a set over an image
        (("e", "slate.png", maps), ("f", "slate.jpg", maps)),                   # one set folder
        (("g", "deep/rug.png", maps), ("h", "deep.png", maps)),                 # a set holding a set
    ]
    for (first, first_name, first_params), (second, second_name, second_params) in pairs:
        image(tmp_path / first / first_name, 1)
        image(tmp_path / second / second_name, 2)
        kept = create_batch([str(tmp_path / first)], out, params=first_params, database_url=db_url)
        assert (kept.created, kept.collisions) == (1, 0), first_name
        later = create_batch([str(tmp_path / second)], out, params=second_params, database_url=db_url)
        assert (later.created, later.collisions) == (1, 1), f"{second_name} after {first_name}"
        with session_scope(db_url) as session:
            (job,) = session.scalars(select(Job).where(Job.batch_id == later.batch_id))
            assert job.status == JobStatus.failed and job.error_code == "output_collision"
            assert str(tmp_path / first / first_name) in job.error_message
    # A set beside, not over, another's objects is no collision: ``oak.png``'s set and ``oaks.png``.
    image(tmp_path / "k" / "oaks.png", 3)
    beside = create_batch([str(tmp_path / "k")], out, params=maps, database_url=db_url)
    assert (beside.created, beside.collisions) == (1, 0)


def test_nfc_and_nfd_names_are_one_output(db_url: str, tmp_path: Path) -> None:
    """``café.png`` composed and decomposed are two names on Linux and S3, one file on macOS:
    one submission gives one of them the output; a later batch's ``CAFÉ.png`` is refused too."""
    from producer.submit import create_batch

    out = str(tmp_path / "out")
    image(tmp_path / "shop" / f"{NFC}.png", 1)
    image(tmp_path / "shop" / f"{NFD}.png", 2)
    first = create_batch([str(tmp_path / "shop")], out, database_url=db_url)
    assert (first.created, first.collisions) == (2, 1)
    image(tmp_path / "other" / f"{NFD.upper()}.png", 3)
    later = create_batch([str(tmp_path / "other")], out, database_url=db_url)
    assert (later.created, later.collisions) == (1, 1)
    with session_scope(db_url) as session:
        refused = session.scalars(select(Job).where(Job.status == JobStatus.failed)).all()
    assert sorted(Path(j.source_uri).parent.name for j in refused) == ["other", "shop"]
    assert {j.error_code for j in refused} == {"output_collision"}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_an_output_holding_the_sources_is_refused(embedded: Path, where: str) -> None:
    if where == "local":
        source = embedded / "par" / "in"
        image(source / "a.png")
        source_arg, output = str(source), str(embedded / "par")
    else:  # refused before anything is listed: no S3 needed
        source_arg, output = "s3://b/par/in/", "s3://b/par/"
    result = runner.invoke(app, ["submit", source_arg, "--output", output])
    assert result.exit_code == 1 and "holds the source" in " ".join(result.output.split())
    assert all_jobs() == []
    watch = runner.invoke(app, ["watch", "add", "inbox", source_arg, "--output", output])
    assert watch.exit_code == 1 and "holds the source" in " ".join(watch.output.split())
    assert json.loads(runner.invoke(app, ["watch", "list", "--json"]).stdout) == []


def test_a_manifest_whose_set_would_land_among_its_sources_is_refused(embedded: Path) -> None:
    """``shop/oak.png``'s set would go to ``shop/oak/``, where the source ``shop/oak/basecolor.png``
    lies: its ``basecolor.png`` would replace it. Refused before any job exists."""
    inner = image(embedded / "shop" / "oak" / "basecolor.png", 1)
    outer = image(embedded / "shop" / "oak.jpg", 2)
    original = inner.read_bytes()
    manifest = embedded / "m.csv"
    manifest.write_text(f"source_uri,output_key\n{inner},elsewhere/b.png\n{outer},oak.png\n")
    result = runner.invoke(app, ["submit", "--manifest", str(manifest), "--output", str(embedded / "shop"),
                                 "--maps", "all", "--wait"])
    assert result.exit_code == 1 and "beside the source" in " ".join(result.output.split())
    assert all_jobs() == [] and inner.read_bytes() == original


@pytest.mark.parametrize("maps", [None, "all"])
def test_an_output_folder_swapped_for_a_symlink_into_the_source(embedded: Path, maps: str | None) -> None:
    """Between submit and the write, ``out`` becomes a symlink to ``src``: the worker refuses to
    write where the file would really land, and the source stays as it was."""
    from db.migrate import upgrade
    from producer.submit import create_batch
    from workers.core.dispatch import run_in_process

    src, out = embedded / "src", embedded / "out"
    source = image(src / "a.png", 7)
    original = source.read_bytes()
    upgrade()
    batch = create_batch([str(src)], str(out), params=JobRequest.from_fields(maps=maps or ()))
    assert batch.created == 1
    shutil.rmtree(out, ignore_errors=True)
    out.symlink_to(src, target_is_directory=True)
    run_in_process(batch.job_ids)
    (job,) = all_jobs()
    assert job.status == JobStatus.failed and job.error_code == "unsafe_output", job.error_message
    assert str(src) in job.error_message
    assert source.read_bytes() == original
    assert files_under(src) == ["a.png"]  # no set, no staging, no part file left in the source


def test_a_map_refused_by_s3_leaves_no_part_of_the_set(s3, s3_endpoint: str, tmp_path: Path, monkeypatch) -> None:
    """S3 refuses one map of the set (``height.png``): the job fails with ``storage_error`` and
    leaves nothing under the output prefix: no map written before it, no staging."""
    from db.migrate import upgrade
    from producer.submit import create_batch
    from workers.core.dispatch import run_in_process

    s3.create_bucket(Bucket="sets")
    s3.put_object(Bucket="sets", Key="in/oak.png", Body=encode(texture(16, 16, seed=3), "png"))
    with FaultyS3(s3_endpoint, Rules(forbidden_word="height.png")) as proxy:
        for key, value in {"UPSCALER_S3_ENDPOINT_URL": proxy.url, "UPSCALER_ENGINE_NOOP": "1",
                           "UPSCALER_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}"}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("UPSCALER_BROKER_URL", raising=False)
        get_settings.cache_clear()
        runtime._storage_for.cache_clear()
        runtime._engine_for.cache_clear()
        try:
            upgrade()
            batch = create_batch(["s3://sets/in/"], "s3://sets/out/", params=JobRequest.from_fields(maps="all"))
            run_in_process(batch.job_ids)
            (job,) = all_jobs()
        finally:
            runtime._storage_for.cache_clear()
            runtime._engine_for.cache_clear()
            get_settings.cache_clear()
    assert proxy.rules.injected["forbidden"] >= 1
    assert job.status == JobStatus.failed and job.error_code == "storage_error", job.error_message
    assert s3.list_objects_v2(Bucket="sets", Prefix="out/").get("Contents", []) == []


def test_s3_metadata_stays_under_aws_limit(s3, s3_endpoint: str) -> None:
    """AWS refuses an upload whose user metadata passes 2 KB (moto does not): a long colour
    profile description is shortened, the short values kept whole."""
    from upscaler.storage import Storage

    s3.create_bucket(Bucket="meta")
    storage = Storage(s3_endpoint)
    description = "ICC profile: " + "a very long vendor description " * 120
    storage.put("s3://meta/a.png", b"x", {"job-id": "1234", "model": "m", "color-space": description})
    stored = s3.head_object(Bucket="meta", Key="a.png")["Metadata"]
    assert sum(len(("x-amz-meta-" + k).encode()) + len(v.encode()) for k, v in stored.items()) <= 2048
    assert stored["job-id"] == "1234" and stored["model"] == "m"
    assert stored["color-space"].startswith("ICC profile: a very long") and stored["color-space"].endswith("...")


def test_a_time_limit_reached_between_maps_stops_the_set_and_leaves_nothing(tmp_path: Path) -> None:
    """The job's soft time limit is checked after each map of a set: once it has passed, the
    next check raises, no further map is made, and nothing of the set or the image is left."""
    from upscaler.errors import JobTimeoutError
    from upscaler.processing import UpscaledImage, write_outputs
    from upscaler.storage import Storage

    checks: list[int] = []

    def deadline_after_two_maps(*_progress) -> None:
        checks.append(len(checks))
        if len(checks) == 2:
            raise JobTimeoutError("over the time limit of 1 s")

    pixels = texture(64, 64, seed=4)
    target = tmp_path / "out" / "slate.png"
    target.parent.mkdir()
    with pytest.raises(JobTimeoutError, match="time limit"):
        write_outputs(UpscaledImage(pixels, "png", (16, 16), {}), JobRequest.from_fields(maps="all"), Storage(), str(target),
                      material="stone", stage="job1", check=deadline_after_two_maps)
    assert len(checks) == 2  # stopped at the check that raised: no third map was made
    assert files_under(tmp_path / "out") == []
