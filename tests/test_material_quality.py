"""Quality tools for materials: metrics, colour fidelity, seamless textures, comparison reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.services import run_cli, service_env
from tests.support import SAMPLES, texture
from upscaler.engine import Engine
from upscaler.evaluation.image_metrics import color_drift, niqe, psnr, psnr_y, wrap_seam_score
from upscaler.engine.options import EngineOptions


def tileable_pattern(n: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth random texture that wraps exactly: band-limited noise made in Fourier space."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(n)[:, None], np.fft.fftfreq(n)[None, :]
    envelope = np.exp(-((fx**2 + fy**2) / 0.12**2))
    yy, xx = np.mgrid[0:n, 0:n]
    planes = []
    for c in range(3):
        field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) * envelope))
        field = (field - field.mean()) / field.std()
        planes.append(0.5 + 0.12 * field + 0.1 * np.sin(2 * np.pi * (3 * xx + (c + 1) * yy) / n))
    return np.clip(np.rint(np.stack(planes, -1) * 255), 0, 255).astype(np.uint8)


# -- metrics against known values --------------------------------------------------------------

def test_color_drift_known_values() -> None:
    img = texture(40, 40, seed=1)
    assert color_drift(img, cv2.resize(img, (160, 160), interpolation=cv2.INTER_CUBIC)) < 0.3
    warmer = img.astype(np.int16)
    warmer[:, :, 0] -= 25  # less blue: a yellow cast, the study's complaint the other way round
    shifted = cv2.resize(np.clip(warmer, 0, 255).astype(np.uint8), (160, 160), interpolation=cv2.INTER_CUBIC)
    assert 4 < color_drift(img, shifted) < 20
    # Texture alone (noise at the pixel scale) barely counts: the measure is about casts.
    noisy = np.clip(cv2.resize(img, (160, 160)) + np.random.default_rng(0).normal(0, 12, (160, 160, 3)), 0, 255)
    assert color_drift(img, noisy.astype(np.uint8)) < 1.0


def test_wrap_seam_score_known_values() -> None:
    assert wrap_seam_score(tileable_pattern()) == pytest.approx(1.0, abs=0.1)
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1))
    assert wrap_seam_score(np.dstack([ramp] * 3)) > 20  # a ramp jumps from 255 back to 0


def test_psnr_y_and_niqe() -> None:
    img = texture(48, 48)
    assert psnr_y(img, img) == float("inf")
    assert 25 < psnr_y(img, cv2.GaussianBlur(img, (0, 0), 1.0)) < 45
    assert niqe(cv2.GaussianBlur(cv2.resize(img, (192, 192)), (0, 0), 3)) > niqe(cv2.resize(img, (192, 192), interpolation=cv2.INTER_NEAREST)) - 50


# -- colour fidelity ------------------------------------------------------------------------------

@pytest.mark.slow
def test_preserve_color_meets_its_targets_on_the_sample_set(engine: Engine) -> None:
    drift, drift_kept, quality, quality_kept = [], [], [], []
    for path in sorted((SAMPLES / "colour").glob("*.png")):
        image = cv2.imread(str(path))
        plain = engine.upscale(image, EngineOptions())
        kept = engine.upscale(image, EngineOptions(preserve_color=True))
        drift.append(color_drift(image, plain)), drift_kept.append(color_drift(image, kept))
        quality.append(niqe(plain)), quality_kept.append(niqe(kept))
    assert len(drift) == 3
    assert np.mean(drift_kept) <= 0.25 * np.mean(drift)       # measured: 1.32 -> 0.23 (-83%)
    assert np.mean(quality_kept) <= np.mean(quality) + 0.2    # measured: +0.004


def test_preserve_color_leaves_gray_and_alpha_alone(engine: Engine) -> None:
    gray = texture(16, 16, channels=1)
    assert np.array_equal(engine.upscale(gray, EngineOptions(model="realesr-animevideov3", preserve_color=True)),
                          engine.upscale(gray, EngineOptions(model="realesr-animevideov3")))
    rgba = np.dstack([texture(16, 16), np.full((16, 16), 99, np.uint8)])
    out = engine.upscale(rgba, EngineOptions(model="realesr-animevideov3", preserve_color=True))
    assert out.shape == (64, 64, 4) and (out[:, :, 3] == 99).all()


@pytest.mark.parametrize("height,width,scale,dtype", [(100, 70, 4, np.uint8), (37, 50, 2, np.uint16),
                                                     (5, 9, 4, np.uint8), (64, 64, 4, np.uint8)])
def test_preserve_color_in_strips_equals_the_whole_image_computation(height, width, scale, dtype) -> None:
    """Strips with halos give exactly the whole-image result (a big output never gets whole
    float Lab copies); the correction happens in place."""
    from upscaler.engine.preserve_color import _correct_window, preserve_color

    original = texture(height, width, channels=4, seed=1, dtype=dtype)
    noise = np.random.default_rng(0).integers(-20, 20, (height * scale, width * scale, 4))
    upscaled = cv2.resize(original, (width * scale, height * scale), interpolation=cv2.INTER_NEAREST)
    upscaled = np.clip(upscaled + noise, 0, np.iinfo(dtype).max).astype(dtype)
    whole = upscaled.copy()
    whole[:, :, :3] = _correct_window(original[:, :, :3], upscaled[:, :, :3], 2.0 * scale)
    assert not np.array_equal(whole, upscaled)  # the correction does something here
    in_place = upscaled.copy()
    result = preserve_color(original, in_place, strip_rows=8)
    assert result is in_place and np.array_equal(result, whole)


# -- seamless textures ------------------------------------------------------------------------------

@pytest.mark.slow
def test_seamless_output_tiles_like_the_ideal(engine: Engine) -> None:
    """A smooth tileable pattern, as users run it (auto precision). The bundled samples and texture
    crops against the exact ideal: tests/test_seamless_ideal.py."""
    image = tileable_pattern(64)
    n = image.shape[0] * 4
    ideal = engine.upscale(np.tile(image, (3, 3, 1)), EngineOptions())[n : 2 * n, n : 2 * n]
    seamless = engine.upscale(image, EngineOptions(seamless=True))
    plain = engine.upscale(image, EngineOptions())
    target = wrap_seam_score(ideal)
    assert abs(wrap_seam_score(seamless) - target) <= 0.1 * target
    assert psnr(seamless / 255.0, ideal / 255.0) >= 40
    assert wrap_seam_score(plain) > 1.5 * target  # without --seamless: the usual reflect padding, visible seams


# -- comparison report --------------------------------------------------------------------------

@pytest.mark.slow
def test_compare_writes_sheet_html_and_metrics_that_render(tmp_path: Path, isolated_data_dir: Path) -> None:
    env = service_env(isolated_data_dir)
    report = tmp_path / "report"
    result = run_cli(["compare", str(SAMPLES), "--models", "realesr-animevideov3,realesrgan-x4plus", "--ground-truth",
                      "-o", str(report), "--json"], env, timeout=600)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["models"] == ["realesr-animevideov3", "realesrgan-x4plus"]
    assert set(data["summary"]["realesrgan-x4plus"]) == {"all", "colour", "samples"}  # folder names = categories
    assert {"psnr_y", "ssim_y", "niqe", "color_drift", "detail_ratio", "spectral_distance"} <= set(
        data["summary"]["realesrgan-x4plus"]["all"])
    assert len(data["images"]) == 6
    sheet = cv2.imread(str(report / "sheet.png"))
    assert sheet.shape[0] >= 6 * 192 and sheet.shape[1] >= 4 * 192  # rows of LR, 2 models, ground truth
    page = (report / "index.html").read_text()
    assert page.count("<figure>") == 6 * 4 and "data:image/png;base64," in page

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian's chromium package is needed (./setup.sh installs it when run as root)"
    shot = tmp_path / "shot.png"
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
                          f"--screenshot={shot}", "--window-size=1400,1800", (report / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.is_file(), run.stderr[-2000:]
    console_errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert console_errors == []
    picture = cv2.imread(str(shot))
    assert picture is not None and picture.std() > 10  # not a blank page


def test_report_scores_texture_per_material_and_flags_misleading_truths(tmp_path: Path, engine: Engine) -> None:
    from upscaler.evaluation.comparison import category_from_name, collect, evaluate, write_report

    photo = cv2.imread(str(SAMPLES / "gravel.png"))[:96, :96]
    folder = tmp_path / "catalogue"
    folder.mkdir()
    cv2.imwrite(str(folder / "fabric_denim.png"), photo)              # category from the name
    cv2.imwrite(str(folder / "tile-hall.png"), np.ascontiguousarray(photo[:, ::-1]))
    ok, blocked = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 25])
    (folder / "fabric_blocked.png").write_bytes(cv2.imencode(".png", cv2.imdecode(blocked, cv2.IMREAD_COLOR))[1].tobytes())
    cv2.imwrite(str(folder / "offcut.png"), photo[::-1])              # no category in the name: the folder
    assert category_from_name("Carpets_wool") == "carpet" and category_from_name("woodgrain") is None

    images = collect([folder])
    assert sorted(c for _, c in images) == ["catalogue", "fabric", "fabric", "tiles"]
    model = "realesr-animevideov3"
    results = evaluate(engine, images, [model], ground_truth=True)
    data = write_report(results, [model], tmp_path / "report")

    by_name = {item["name"]: item for item in data["images"]}
    assert by_name["fabric_blocked"]["caveats"] == ["jpeg-blocking"] and by_name["fabric_denim"]["caveats"] == []
    for item in data["images"]:
        metrics = item["metrics"][model]
        assert 0.05 < metrics["detail_ratio"] < 20 and 0 < metrics["spectral_distance"] < 3
    fabric = data["summary"][model]["fabric"]
    # The flagged truth is left out of the texture averages (only the clean one counts) ...
    assert fabric["detail_ratio"] == by_name["fabric_denim"]["metrics"][model]["detail_ratio"]
    assert fabric["spectral_distance"] == by_name["fabric_denim"]["metrics"][model]["spectral_distance"]
    # ... but not out of PSNR's.
    psnrs = [by_name[n]["metrics"][model]["psnr_y"] for n in ("fabric_denim", "fabric_blocked")]
    assert fabric["psnr_y"] == pytest.approx(np.mean(psnrs), abs=1e-3)
    page = (tmp_path / "report" / "index.html").read_text()
    assert "texture measures mislead here: jpeg-blocking" in page and "<th>detail_ratio</th>" in page
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["summary"] == data["summary"]
