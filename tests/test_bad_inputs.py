"""The bad-input catalogue: every file a supplier might send ends as a clear ``failed`` reason
or a correct output, and the batch always completes. Runs the real job path (submit, claim,
decode, infer, encode, store, record) in-process on SQLite and local folders."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.support import texture
from upscaler.imageio import EXIF_ORIENTATION, encode

COMPACT = "realesr-animevideov3"


def _pil(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _bomb_png() -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    return _pil(Image.fromarray(texture(12, 20)), "JPEG", exif=exif, quality=95)


def _palette_with_transparency() -> bytes:
    img = Image.fromarray(texture(16, 16)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    return _pil(img, "PNG", transparency=0)


# name -> (file bytes, expected: ("failed", error_code, words in the message) or ("ok", output shape, dtype))
CATALOGUE = {
    "zero-byte.png": (b"", ("failed", "invalid_image", "empty file")),
    "truncated.jpg": (encode(texture(40, 40), "jpeg")[:400], ("failed", "invalid_image", "truncated")),
    "truncated.png": (encode(texture(40, 40), "png")[:300], ("failed", "invalid_image", "truncated")),
    "error-page.jpg": (b"<!DOCTYPE html><html>503</html>", ("failed", "invalid_image", "not a recognised raster")),
    "logo.svg.png": (b'<svg xmlns="http://www.w3.org/2000/svg"/>', ("failed", "invalid_image", "not a recognised raster")),
    "animated.gif": (_pil(Image.fromarray(texture(8, 8, seed=1)).convert("P"), "GIF", save_all=True,
                          append_images=[Image.fromarray(texture(8, 8, seed=2)).convert("P")]),
                     ("failed", "invalid_image", "animated")),
    "cmyk.jpg": (_pil(Image.fromarray(texture(10, 14)).convert("CMYK"), "JPEG"), ("ok", (40, 56, 3), np.uint8)),
    "deep.png": (encode(texture(10, 10, dtype=np.uint16), "png"), ("ok", (40, 40, 3), np.uint16)),
    "palette-alpha.png": (_palette_with_transparency(), ("ok", (64, 64, 4), np.uint8)),
    "gray-alpha.png": (_pil(Image.fromarray(np.dstack([texture(8, 8, 1), np.full((8, 8), 9, np.uint8)]), "LA"), "PNG"),
                       ("ok", (32, 32, 4), np.uint8)),
    "one-pixel.png": (encode(np.array([[[10, 200, 30]]], np.uint8), "png"), ("ok", (4, 4, 3), np.uint8)),
    "bomb.png": (_bomb_png(), ("failed", "image_too_large", "3,600,000,000 pixels")),
    "huge-file.png": (b"\x89PNG" + b"\0" * 3000, ("failed", "image_too_large", "bytes is over the limit")),
    "phone photo.jpg": (_exif_rotated(), ("ok", (80, 48, 3), np.uint8)),
    "ünïcode façade.png": (encode(texture(6, 6), "png"), ("ok", (24, 24, 3), np.uint8)),
}


@pytest.fixture(scope="module")
def processed(tmp_path_factory, isolated_data_dir: Path):
    """All of the catalogue as one batch through the in-process worker."""
    from db.migrate import upgrade
    from upscaler.settings import get_settings

    root = tmp_path_factory.mktemp("bad")
    src, out = root / "in", root / "out"
    src.mkdir()
    for name, (data, _) in CATALOGUE.items():
        (src / name).write_bytes(data)
    mp = pytest.MonkeyPatch()
    mp.setenv("UPSCALER_DATABASE_URL", f"sqlite:///{root / 'jobs.sqlite3'}")
    mp.setenv("UPSCALER_MAX_INPUT_BYTES", "2048")
    get_settings.cache_clear()
    upgrade()
    from producer.submit import create_batch
    from upscaler.jobspec import JobRequest
    from workers.core.dispatch import run_in_process

    result = create_batch([str(src)], str(out), model=COMPACT, params=JobRequest())
    run_in_process(result.job_ids)
    from sqlalchemy import select

    from db.models import Job
    from db.session import session_scope

    with session_scope() as session:
        jobs = {Path(j.source_uri).name: j for j in session.scalars(select(Job))}
    yield jobs, out
    mp.undo()
    get_settings.cache_clear()


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_bad_input(processed, name: str) -> None:
    jobs, out = processed
    job = jobs[name]
    expected = CATALOGUE[name][1]
    assert job.status.value in ("succeeded", "failed") and job.finished_at is not None  # nothing left hanging
    if expected[0] == "failed":
        _, code, words = expected
        assert job.status.value == "failed" and job.error_code == code, (job.error_code, job.error_message)
        assert words in job.error_message and name in job.error_message
    else:
        _, shape, dtype = expected
        assert job.status.value == "succeeded", job.error_message
        result = cv2.imread(job.output_uri, cv2.IMREAD_UNCHANGED)
        assert result.shape == shape and result.dtype == dtype


def test_the_batch_completes(processed) -> None:
    jobs, _ = processed
    assert len(jobs) == len(CATALOGUE)
    assert {j.status.value for j in jobs.values()} <= {"succeeded", "failed"}


def test_unsafe_keys_and_unknown_model_fail_their_own_jobs(tmp_path: Path, isolated_data_dir: Path, monkeypatch) -> None:
    from db.migrate import upgrade
    from producer.submit import create_batch
    from upscaler.jobspec import JobRequest
    from upscaler.settings import get_settings
    from workers.core.dispatch import run_in_process

    monkeypatch.setenv("UPSCALER_DATABASE_URL", f"sqlite:///{tmp_path / 'j.sqlite3'}")
    get_settings.cache_clear()
    try:
        upgrade()
        image = tmp_path / "tile.png"
        image.write_bytes(encode(texture(8, 8), "png"))
        manifest = tmp_path / "m.csv"
        manifest.write_text("source_uri,output_key\n"
                            f"{image},../../etc/escape.png\n{image},/leading/slash.png\n{image},ok/ünï code.png\n")
        result = create_batch([], str(tmp_path / "out"), manifest=manifest, model=COMPACT, params=JobRequest())
        assert result.created == 3 and len(result.job_ids) == 2  # the unsafe one is failed, not queued
        run_in_process(result.job_ids)
        assert (tmp_path / "out" / "leading" / "slash.png").is_file()
        assert (tmp_path / "out" / "ok" / "ünï code.png").is_file()
        assert not (tmp_path / "etc").exists()
        from sqlalchemy import select

        from db.models import Job
        from db.session import session_scope

        with session_scope() as session:
            unsafe = session.scalars(select(Job).where(Job.error_code == "unsafe_key")).one()
        assert "leaves its prefix" in unsafe.error_message

        unknown = create_batch([], str(tmp_path / "out2"), manifest=manifest, model="no-such-model", params=JobRequest())
        run_in_process(unknown.job_ids)
        with session_scope() as session:
            codes = {j.error_code for j in session.scalars(select(Job).where(Job.model == "no-such-model"))}
        assert codes == {"unknown_model", "unsafe_key"}
    finally:
        get_settings.cache_clear()
