"""Material sets through the S3 job path: real PostgreSQL, Redis, moto and a worker process.

A batch submitted with ``--maps all`` writes every map (and the glTF, MaterialX and preview
files) beside every good image; a bad image fails alone; a manifest's ``material`` column picks
each row's presets; the jobs table lists each set's files and ``status`` counts the sets.
"""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import run_cli, service_env, start_worker, submit_with_a_worker
from tests.textures import texture
from upscaler.imageio import encode

BUCKET = "materials"
EVERY_FILE = {"basecolor.png", "height.png", "normal.png", "ao.png", "roughness.png", "orm.png",
              "material.gltf", "material.mtlx", "preview.html"}


def test_a_batch_with_maps_writes_every_map_for_every_good_image(pg_url: str, redis_url: str, s3, s3_endpoint: str,
                                                                  isolated_data_dir: Path, tmp_path: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)
    for i, name in enumerate(["oak.png", "slate.jpg", "steel.png"]):
        s3.put_object(Bucket=BUCKET, Key=f"in/{name}", Body=encode(texture(24, 24, seed=i), name.split(".")[1]
                                                                   .replace("jpg", "jpeg")))
    s3.put_object(Bucket=BUCKET, Key="in/broken.png", Body=b"<html>not an image</html>")
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text("source_uri,material\n" + "".join(
        f"s3://{BUCKET}/in/{name},{material}\n" for name, material in
        [("oak.png", "wood"), ("slate.jpg", "stone"), ("steel.png", "metal"), ("broken.png", "tile")]))
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1")
    result = submit_with_a_worker(env, tmp_path, "--manifest", str(manifest), "--output", f"s3://{BUCKET}/out/",
                                  "--maps", "all")
    assert result.returncode == 1, result.stderr  # broken.png failed: --wait says so in its status
    summary = json.loads(result.stdout)["summary"]
    assert summary["counts"]["succeeded"] == 3 and summary["counts"]["failed"] == 1
    assert summary["failures"][0]["source_uri"].endswith("broken.png") and summary["material_sets"] == 3

    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="out/")["Contents"]}
    for stem in ("oak", "slate", "steel"):
        files = {k.split("/", 2)[2] for k in keys if k.startswith(f"out/{stem}/")}
        assert EVERY_FILE <= files, (stem, files)
        assert ("metallic.png" in files) is (stem == "steel")  # the metal preset has a metallic map
        gltf = json.loads(s3.get_object(Bucket=BUCKET, Key=f"out/{stem}/material.gltf")["Body"].read())
        assert gltf["materials"] and all(image["uri"] in files for image in gltf["images"])
    assert not any(k.startswith("out/broken") for k in keys)
    with Session(create_engine(pg_url)) as session:
        jobs = {j.source_uri.rsplit("/", 1)[1]: j for j in session.scalars(select(Job))}
    assert jobs["steel.png"].status == JobStatus.succeeded and "metallic.png" in jobs["steel.png"].maps
    assert jobs["broken.png"].maps is None and jobs["oak.png"].maps_ms is not None


def test_a_manifest_material_column_runs_each_row_with_its_profile(pg_url: str, redis_url: str, s3, s3_endpoint: str,
                                                                   isolated_data_dir: Path, tmp_path: Path) -> None:
    from upscaler.profiles import default_profiles

    s3.create_bucket(Bucket="profiles")
    rows = [("denim.png", "fabric"), ("rug.png", "carpet"), ("plank.png", "wood"), ("moss.png", "moss")]
    for i, (name, _) in enumerate(rows):
        s3.put_object(Bucket="profiles", Key=f"in/{name}", Body=encode(texture(16, 16, seed=i), "png"))
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text("source_uri,material\n" + "".join(f"s3://profiles/in/{n},{m}\n" for n, m in rows))
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    # Every producer and worker sees an operator's setting: wood as JPEG with a little detail.
    assert run_cli(["profiles", "set", "wood", "--detail", "0.3", "--format", "jpeg"], env).returncode == 0
    worker = start_worker(env, tmp_path)
    try:
        result = run_cli(["submit", "--manifest", str(manifest), "--output", "s3://profiles/out/", "--wait", "--json"],
                         env)
    finally:
        worker.stop()
        run_cli(["profiles", "reset", "wood"], env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert any("'moss'" in w for w in report["warnings"])  # the submit warns at once
    # The batch's summary (and so its morning report) says which profiles ran.
    assert {(p["profile"], p["detail"], p["jobs"]) for p in report["summary"]["profiles"]} >= {("wood", 0.3, 1)}
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="profiles", Prefix="out/")["Contents"]}
    assert keys == {"out/denim.png", "out/rug.png", "out/plank.jpg", "out/moss.png"}
    with Session(create_engine(pg_url)) as session:
        jobs = {j.source_uri.rsplit("/", 1)[1]: j for j in session.scalars(select(Job).where(
            Job.source_uri.like("s3://profiles/%")))}
    defaults = default_profiles()
    assert {n: (j.status, j.profile, j.model, j.detail) for n, j in jobs.items()} == {
        "denim.png": (JobStatus.succeeded, "fabric", defaults["fabric"].model, defaults["fabric"].detail),
        "rug.png": (JobStatus.succeeded, "carpet", defaults["carpet"].model, defaults["carpet"].detail),
        "plank.png": (JobStatus.succeeded, "wood", defaults["wood"].model, 0.3),
        "moss.png": (JobStatus.succeeded, "other", defaults["other"].model, defaults["other"].detail),
    }
    assert jobs["denim.png"].params["preserve_color"] == defaults["fabric"].preserve_color
    assert any("'moss'" in w for w in jobs["moss.png"].warnings)  # and the job says so beside its result
