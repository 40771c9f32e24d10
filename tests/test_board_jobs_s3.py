"""Board-ready materials through the S3 job path: real PostgreSQL, Redis, moto and a worker process.

A manifest's ``tileable``, ``width_mm``, ``repeat`` and ``material`` columns: the tile is written
as the image, its maps and glTF/MaterialX beside it carry the real size, the job row records
the board report (crop, period in px and mm) and its warnings; a texture-less image succeeds,
unchanged, with its warning in the job row, ``status`` and the batch summary.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job, JobStatus
from tests.services import run_cli, service_env, submit_with_a_worker
from tests.textures import natural_texture
from upscaler.imageio import encode

BUCKET = "boards"
pytestmark = pytest.mark.integration


def test_manifest_board_rows_through_the_s3_job_path(pg_url: str, redis_url: str, s3, s3_endpoint: str,
                                                     isolated_data_dir: Path, tmp_path: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)
    sources = {"oak.png": natural_texture(48, 64, seed=7), "felt.png": np.tile(natural_texture(16, 16, seed=8), (3, 4, 1)),
               "blank.png": np.full((40, 48, 3), 190, np.uint8)}
    for name, pixels in sources.items():
        s3.put_object(Bucket=BUCKET, Key=f"in/{name}", Body=encode(pixels, "png"))
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text("source_uri,material,tileable,repeat,width_mm\n"
                        f"s3://{BUCKET}/in/oak.png,wood,yes,,600\n"
                        f"s3://{BUCKET}/in/felt.png,fabric,,auto,300\n"
                        f"s3://{BUCKET}/in/blank.png,plaster,yes,,450\n")
    env = service_env(isolated_data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      engine_noop="1")
    result = submit_with_a_worker(env, tmp_path, "--manifest", str(manifest), "--output", f"s3://{BUCKET}/out/",
                                  "--maps", "all")
    status = run_cli(["status", json.loads(result.stdout)["batch_id"]], env) if result.returncode == 0 else None
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["counts"]["succeeded"] == 3 and summary["board_tiles"] == 2 and summary["material_sets"] == 3

    with Session(create_engine(pg_url)) as session:
        jobs = {j.source_uri.rsplit("/", 1)[1]: j for j in session.scalars(
            select(Job).where(Job.source_uri.like(f"s3://{BUCKET}/%")))}
    assert all(j.status == JobStatus.succeeded for j in jobs.values())
    oak, felt, blank = jobs["oak.png"], jobs["felt.png"], jobs["blank.png"]

    # The image written is the tile; the glTF and MaterialX beside it carry its real size.
    body = s3.get_object(Bucket=BUCKET, Key="out/oak.png")["Body"].read()
    tile = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert oak.board["tileable"] and tile.shape[:2] == (oak.output_height, oak.output_width) != (192, 256)
    size = oak.board["size_mm"]
    assert size == [round(tile.shape[1] * 600 / 256, 3), round(tile.shape[0] * 600 / 256, 3)]
    gltf = json.loads(s3.get_object(Bucket=BUCKET, Key="out/oak/material.gltf")["Body"].read())
    assert gltf["materials"][0]["extras"]["size_mm"] == size
    transform = gltf["materials"][0]["pbrMetallicRoughness"]["baseColorTexture"]["extensions"]["KHR_texture_transform"]
    assert transform["scale"] == pytest.approx([1000 / size[0], 1000 / size[1]])
    mtlx = s3.get_object(Bucket=BUCKET, Key="out/oak/material.mtlx")["Body"].read().decode()
    assert "realworldimagesize" in mtlx and f"{size[0]:g}, {size[1]:g}" in mtlx

    # The pattern's period is recorded on the job, in pixels and millimetres.
    assert felt.board["method"] == "repeat" and felt.board["period_px"] == pytest.approx([64, 64], abs=0.7)
    assert felt.board["period_mm"] == pytest.approx([75, 75], abs=1)

    # No texture: the plain result, a success with its warning, everywhere an operator looks.
    assert not blank.board["tileable"] and (blank.output_width, blank.output_height) == (192, 160)
    assert any("almost no texture" in w for w in blank.warnings)
    assert any("almost no texture" in w for noted in summary["warnings"] for w in noted["warnings"])
    assert status is not None and "almost no texture" in " ".join(status.stderr.split())
    page = s3.get_object(Bucket=BUCKET, Key="out/blank/preview.html")["Body"].read().decode()
    assert "almost no texture" in page
