"""The ``upscaler`` command line, in-process and as the installed console script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.support import TINY_RRDB, random_network_file, texture

runner = CliRunner()
COMPACT = ["--model", "realesr-animevideov3"]


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_upscale_folder_skips_bad_files_and_writes_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "catalogue"
    (src / "tiles").mkdir(parents=True)
    cv2.imwrite(str(src / "tiles" / "slate.png"), texture(24, 32, seed=1))
    cv2.imwrite(str(src / "oak.jpg"), texture(20, 20, seed=2))
    (src / "broken.jpg").write_bytes(b"<html>404</html>")
    (src / "notes.txt").write_text("not an image, not even looked at")
    out = tmp_path / "out"
    result = runner.invoke(app, ["upscale", str(src), "-o", str(out), *COMPACT, "--json"])
    assert result.exit_code == 1, result.output  # one file failed: scripts must see it
    report = json.loads(result.stdout)
    assert report["images"] == 2 and report["failed"] == 1
    failure = next(r for r in report["results"] if "error" in r)
    assert "broken.jpg" in failure["error"] and "not a recognised raster image" in failure["error"]
    assert cv2.imread(str(out / "tiles" / "slate.png")).shape == (96, 128, 3)
    assert cv2.imread(str(out / "oak.jpg")).shape == (80, 80, 3)
    assert not (out / "broken.jpg").exists() and not (out / "notes.jpg").exists()


def test_upscale_all_good_exits_zero_with_summary(tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    cv2.imwrite(str(image), texture(16, 16))
    result = runner.invoke(app, ["upscale", str(image), "-o", str(tmp_path / "o"), *COMPACT,
                                 "--format", "webp", "--outscale", "2"])
    assert result.exit_code == 0, result.output
    assert "1 images upscaled, 0 failed" in result.stderr
    assert cv2.imread(str(tmp_path / "o" / "a.webp")).shape == (32, 32, 3)


def test_upscale_rejects_bad_options(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upscale", str(tmp_path), "-o", str(tmp_path), "--precision", "fp8"])
    assert result.exit_code == 2 and "fp8" in result.output


def test_unknown_model_is_one_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upscale", str(tmp_path), "-o", str(tmp_path), "--model", "x4plus"])
    assert result.exit_code == 2, result.output  # a usage error, found before any input is read
    assert "unknown model 'x4plus' (did you mean 'realesrgan-x4plus'?)" in result.stderr


def test_models_list_import_info(tmp_path: Path) -> None:
    listed = json.loads(runner.invoke(app, ["models", "list", "--json"]).stdout)
    assert {"realesrgan-x4plus", "realesr-animevideov3"} <= {m["name"] for m in listed}
    weights = random_network_file(tmp_path, TINY_RRDB)
    imported = runner.invoke(app, ["models", "import", str(weights), "--name", "tiny-cli", "--json"])
    assert imported.exit_code == 0, imported.output
    info = json.loads(runner.invoke(app, ["models", "info", "tiny-cli", "--json"]).stdout)
    assert info["arch"] == "RRDBNet" and info["params"]["num_block"] == 2 and info["parameters"] > 0
    assert len(info["sha256"]) == 64


def test_console_script_is_installed() -> None:
    script = shutil.which("upscaler", path=str(Path(sys.executable).parent))
    assert script, "the upscaler console script is missing from the environment"
    result = subprocess.run([script, "upscale", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for option in ("--model", "--tile", "--tile-pad", "--outscale", "--precision", "--device", "--format"):
        assert option in result.stdout


def test_flower_refuses_to_start_without_authentication(monkeypatch) -> None:
    from upscaler.settings import get_settings

    monkeypatch.setenv("UPSCALER_BROKER_URL", "redis://127.0.0.1:6379/11")
    monkeypatch.delenv("UPSCALER_FLOWER_BASIC_AUTH", raising=False)
    get_settings.cache_clear()
    try:
        refused = runner.invoke(app, ["flower"])
        assert refused.exit_code == 2 and "UPSCALER_FLOWER_BASIC_AUTH" in refused.output
        # --local-only is only honoured on a loopback address.
        public = runner.invoke(app, ["flower", "--local-only", "--address", "0.0.0.0"])
        assert public.exit_code == 2
        monkeypatch.setenv("UPSCALER_FLOWER_BASIC_AUTH", "no-colon")
        get_settings.cache_clear()
        assert runner.invoke(app, ["flower"]).exit_code == 2
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_worker_needs_a_broker(monkeypatch) -> None:
    from upscaler.settings import get_settings

    monkeypatch.delenv("UPSCALER_BROKER_URL", raising=False)
    get_settings.cache_clear()
    result = runner.invoke(app, ["worker"])
    assert result.exit_code == 2 and "UPSCALER_BROKER_URL" in result.output
