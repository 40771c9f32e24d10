"""Producer pieces without services: output keys, manifests, idempotency, job parameters."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from producer.sources import ManifestError, SourceImage, from_listing, from_manifest
from producer.submit import job_rows
from upscaler.jobspec import JobRequest, idempotency_key
from upscaler.storage import Storage, StorageError, safe_join


@pytest.mark.parametrize("relative,expected", [
    ("a.jpg", "s3://out/p/a.jpg"),
    ("/leading/slash.png", "s3://out/p/leading/slash.png"),
    ("nested//double/./dot.png", "s3://out/p/nested/double/dot.png"),
    ("linen weave é.jpg", "s3://out/p/linen weave é.jpg"),
])
def test_safe_join_keeps_keys_under_the_prefix(relative: str, expected: str) -> None:
    assert safe_join("s3://out/p/", relative) == expected


@pytest.mark.parametrize("relative", ["../escape.jpg", "a/../../b.jpg", "..", "", "/"])
def test_safe_join_refuses_escapes(relative: str) -> None:
    with pytest.raises(StorageError):
        safe_join("s3://out/p/", relative)


def test_the_output_uri_is_a_pure_function_of_the_job() -> None:
    """The producer names each output: the source's key relative to its prefix, under the output
    prefix, with the format's extension; a manifest's output_key replaces the relative part."""
    slate = SourceImage("s3://in/cat/tiles/slate.JPG", "tiles/slate.JPG", "e1", 10)
    params = JobRequest.from_fields(model="m", format="png")
    rows = [job_rows(uuid.uuid4(), [slate], "s3://out/2026/", params)[0][0].output_uri for _ in range(2)]
    assert rows == ["s3://out/2026/tiles/slate.png"] * 2
    renamed = SourceImage(slate.uri, slate.relative_key, "e1", 10, output_key="boards/slate-x4.png")
    (row,), _, _ = job_rows(uuid.uuid4(), [renamed], "s3://out/2026/", params)
    assert row.output_uri == "s3://out/2026/boards/slate-x4.png"


def test_idempotency_key_changes_with_every_part() -> None:
    base = ("s3://b/a.jpg", "etag1", JobRequest.from_fields(model="m"), "s3://o/a.jpg")
    key = idempotency_key(*base)
    assert key == idempotency_key(*base)
    variants = [("s3://b/b.jpg", *base[1:]), (base[0], "etag2", *base[2:]), (*base[:2], JobRequest.from_fields(model="m2"), base[3]),
                (*base[:2], JobRequest.from_fields(model="m", tile=100), base[3]), (*base[:3], "s3://o2/a.jpg")]
    assert len({key, *(idempotency_key(*v) for v in variants)}) == 6


def test_stored_parameters_leave_out_the_model_and_batch_size() -> None:
    """The model has its own column; the batch size is each worker's own choice."""
    params = JobRequest.from_fields(model="m", tile=64, batch_size=3)
    assert "model" not in params.to_json() and "batch_size" not in params.to_json()
    assert JobRequest.from_json(params.to_json(), "m") == JobRequest.from_fields(model="m", tile=64)


def test_job_params_validate_and_round_trip() -> None:
    params = JobRequest.from_fields(tile=128, format="webp", quality=80)
    assert JobRequest.from_json(params.to_json()) == params
    assert params.extension("s3://b/a.jpg") == ".webp"
    assert JobRequest().extension("s3://b/a.JPEG") == ".jpg" and JobRequest().extension("x.bmp") == ".png"
    for bad in [dict(tile=-1), dict(outscale=0), dict(alpha="magic"), dict(format="gif"), dict(quality=0)]:
        with pytest.raises(ValueError):
            JobRequest.from_fields(**bad)
    with pytest.raises(ValueError, match="unknown job parameters"):
        JobRequest.from_json({"tile": 1, "sharpen": True})


def test_local_listing_filters_images_and_keeps_structure(tmp_path: Path) -> None:
    (tmp_path / "tiles").mkdir()
    (tmp_path / "tiles" / "a.png").write_bytes(b"x")
    (tmp_path / "b.JPG").write_bytes(b"y")
    (tmp_path / "notes.txt").write_text("z")
    items = list(from_listing(Storage(), str(tmp_path)))
    images = sorted(i.relative_key for i in items if not isinstance(i, str))
    assert images == ["b.JPG", "tiles/a.png"]
    assert [i for i in items if isinstance(i, str)] == [str(tmp_path / "notes.txt")]


def test_manifest_rows(tmp_path: Path) -> None:
    image = tmp_path / "slate.png"
    image.write_bytes(b"png")
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text(f"source_uri,output_key,supplier,material\n{image},boards/slate.png,Acme,stone\n"
                        f"{tmp_path / 'spec.pdf'},,Acme,\n")
    items = list(from_manifest(Storage(), manifest))
    assert items[1] == str(tmp_path / "spec.pdf")
    (row,), repeated, clashes = job_rows(__import__("uuid").uuid4(), [items[0]], "s3://out/p/", JobRequest.from_fields(model="m"))
    assert (repeated, clashes) == (0, 0)
    assert row.output_uri == "s3://out/p/boards/slate.png"
    assert (row.supplier, row.material) == ("Acme", "stone")


def test_manifest_without_source_column_is_refused(tmp_path: Path) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text("url,material\nx,y\n")
    with pytest.raises(ManifestError, match="no 'source_uri' column"):
        list(from_manifest(Storage(), manifest))
