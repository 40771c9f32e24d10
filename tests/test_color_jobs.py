"""Color management end to end, with the real x4plus network: through ``upscaler upscale`` and
through the S3 job path (moto, the job runner, S3 object metadata).

Each input is a 48x48 crop of a bundled sRGB swatch converted into a wide-gamut or CMYK space
with its profile embedded. The output, rendered through the profile it carries, is compared with
the input rendered through its own, both low-passed at sigma 2 input pixels (quality.color_drift).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.main import app
from tests.test_color_decode import (  # noqa: F401
    RGB_PROFILES,
    SWATCHES,
    cmyk_jpeg,
    default_cmyk,
    from_srgb_with_imagecms,
    pil_bytes,
    png_with_iccp,
    render_srgb,
    swatch_rgb,
)
from tests.test_color_encode import embedded_icc, photo_with_metadata
from upscaler.evaluation.image_metrics import color_drift
from upscaler.settings import get_settings
from workers.core import runtime

runner = CliRunner()
CROP = (40, 40, 88, 88)
# The profile, and the file format it arrives in (16-bit ProPhoto as retouchers deliver it).
INPUTS = {"adobe-rgb": "JPEG", "prophoto": "PNG16", "wide-gamut": "PNG", "display-p3": "PNG"}


def crop() -> Image.Image:
    return swatch_rgb(SWATCHES[2]).crop(CROP)


def make_inputs(folder: Path, cmyk_icc: bytes) -> dict[str, bytes]:
    """name -> the source profile, after writing each input file into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    profiles = {}
    for name, fmt in INPUTS.items():
        icc = RGB_PROFILES[name]()
        converted = from_srgb_with_imagecms(crop(), icc)
        if fmt == "PNG16":
            bgr16 = np.ascontiguousarray((np.asarray(converted, dtype=np.uint16) * 257)[:, :, ::-1])
            data = png_with_iccp(bgr16, icc)
        else:
            data = pil_bytes(converted, fmt, icc_profile=icc, **({"quality": 95} if fmt == "JPEG" else {}))
        (folder / f"{name}.{'jpg' if fmt == 'JPEG' else 'png'}").write_bytes(data)
        profiles[name] = icc
    (folder / "cmyk.jpg").write_bytes(cmyk_jpeg(crop(), cmyk_icc))
    profiles["cmyk"] = cmyk_icc
    pil_srgb = pil_bytes(crop(), "PNG")
    (folder / "srgb.png").write_bytes(pil_srgb)
    return profiles


@pytest.fixture
def cpu_x4plus(isolated_data_dir: Path, monkeypatch) -> None:
    """The embedded default with the real network: no broker, SQLite, this process's own engine
    and storage client (made anew: earlier tests may have left ones for other settings)."""
    for name in ("UPSCALER_BROKER_URL", "UPSCALER_DATABASE_URL", "UPSCALER_ENGINE_NOOP", "UPSCALER_S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    runtime._storage_for.cache_clear()
    yield
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    runtime._storage_for.cache_clear()


def drifts(src: Path, out: Path, output_suffix: str = ".png") -> dict[str, float]:
    found = {}
    for source in sorted(src.iterdir()):
        result = out / (source.stem + (output_suffix if source.suffix == ".png" else source.suffix))
        found[source.stem] = color_drift(render_srgb(source.read_bytes()), render_srgb(result.read_bytes()))
    return found


@pytest.mark.slow
def test_upscale_command_keeps_the_color_of_every_profile(tmp_path: Path, default_cmyk: bytes,  # noqa: F811
                                                            cpu_x4plus) -> None:
    src = tmp_path / "in"
    profiles = make_inputs(src, default_cmyk)
    runs = {"preserve": ["--preserve-color"], "plain": [], "keep": ["--preserve-color", "--color-space", "keep"]}
    measured = {}
    for run, options in runs.items():
        result = runner.invoke(app, ["upscale", str(src), "-o", str(tmp_path / run), *options, "--json"])
        assert result.exit_code == 0, result.output
        measured[run] = drifts(src, tmp_path / run)
        print(f"mean CIEDE2000 through upscale, {run}: {measured[run]}")
    for name in profiles:
        assert measured["preserve"][name] <= 1.0, (name, measured)
        assert measured["keep"][name] <= 1.0, (name, measured)
        # Without --preserve-color the model's own drift remains, no more than on the sRGB original.
        assert measured["plain"][name] <= measured["plain"]["srgb"] + 0.5, (name, measured)
        kept = (tmp_path / "keep" / (name + (".jpg" if name in ("adobe-rgb", "cmyk") else ".png"))).read_bytes()
        assert embedded_icc(kept) == profiles[name]
    assert embedded_icc((tmp_path / "preserve" / "adobe-rgb.jpg").read_bytes()) != profiles["adobe-rgb"]


@pytest.mark.slow
def test_srgb_inputs_give_the_same_pixels_as_the_engine_alone(tmp_path: Path, cpu_x4plus, zoo) -> None:
    """The common case is untouched: an untagged sRGB file's output is the engine's output (the
    engine as the settings make it, so that both run on the same CPU runtime)."""
    src = tmp_path / "in"
    src.mkdir()
    pixels = np.ascontiguousarray(np.asarray(crop())[:, :, ::-1])
    cv2.imwrite(str(src / "swatch.png"), pixels)
    assert runner.invoke(app, ["upscale", str(src), "-o", str(tmp_path / "out"), "--precision", "fp32"]).exit_code == 0
    from upscaler.engine import Engine
    from upscaler.engine.options import EngineOptions

    expected = Engine.from_settings(zoo, get_settings(), "cpu", "fp32").upscale(pixels, EngineOptions())
    np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / "swatch.png")), expected)


@pytest.mark.slow
def test_s3_job_path_tags_keeps_and_records(tmp_path: Path, s3, s3_endpoint: str, default_cmyk: bytes,  # noqa: F811
                                           cpu_x4plus, monkeypatch) -> None:
    s3.create_bucket(Bucket="colour")
    src = tmp_path / "in"
    profiles = make_inputs(src, default_cmyk)
    for path in src.iterdir():
        s3.put_object(Bucket="colour", Key=f"in/{path.name}", Body=path.read_bytes())
    s3.put_object(Bucket="colour", Key="in/credits.jpg", Body=photo_with_metadata("JPEG"))
    broken = pil_bytes(crop(), "JPEG", quality=95, icc_profile=b"\x00" * 200)  # a profile nobody can read
    s3.put_object(Bucket="colour", Key="in/broken-profile.jpg", Body=broken)
    models = get_settings().data_dir / "models"  # converted once per test run: shared
    models.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("UPSCALER_S3_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))  # its own SQLite database
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "models").symlink_to(models, target_is_directory=True)
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    runtime._storage_for.cache_clear()
    runs = {"srgb": ["--preserve-color"], "keep": ["--preserve-color", "--color-space", "keep"], "plain": []}
    for run, options in runs.items():
        result = runner.invoke(app, ["submit", "s3://colour/in/", "--output", f"s3://colour/{run}/", *options,
                                     "--wait", "--json"])
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)["summary"]
        assert summary["counts"]["succeeded"] == len(profiles) + 3, (summary["counts"], summary["failures"], result.output)
        assert any("broken-profile" in w["source_uri"] for w in summary["warnings"])
        measured = {}
        for name in [*profiles, "srgb"]:
            key = next(k["Key"] for k in s3.list_objects_v2(Bucket="colour", Prefix=f"{run}/{name}.")["Contents"])
            out = s3.get_object(Bucket="colour", Key=key)
            data, metadata = out["Body"].read(), out["Metadata"]
            source = next(p for p in src.iterdir() if p.stem == name).read_bytes()
            measured[name] = color_drift(render_srgb(source), render_srgb(data))
            if run == "keep" and name in profiles:
                assert embedded_icc(data) == profiles[name]
            elif run != "keep":
                assert metadata["color-space"].startswith("sRGB")
        print(f"mean CIEDE2000 through the S3 job path, {run}: {measured}")
        for name in profiles:  # with --preserve-color <= 1.0; without, no more than 0.5 over the sRGB original
            limit = measured["srgb"] + 0.5 if run == "plain" else 1.0
            assert measured[name] <= limit, (run, name, measured)
        credits = s3.get_object(Bucket="colour", Key=f"{run}/credits.jpg")["Body"].read()
        with Image.open(io.BytesIO(credits)) as img:
            exif = img.getexif()
            assert exif.get(0x8298) == "(c) Stone & Co 2026" and exif.get(0x013B) == "A. Mason"
            assert not exif.get_ifd(0x8825)  # no GPS
