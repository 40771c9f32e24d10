"""What the command line prints and returns when inputs, outputs or jobs go wrong: each failure
with its reason, checked before a model is loaded, with the exit statuses of cli/checks.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest

from cli.checks import EXIT_CANT_CREATE, EXIT_NO_INPUT, EXIT_NOT_SENT, EXIT_USAGE
from tests.services import free_port
from tests.cli_process import models_converted, run_cli
from tests.textures import texture
from upscaler.storage import OutputNotWritableError, open_local_write

COMPACT = ["--model", "realesr-animevideov3"]


def test_a_missing_input_is_named_before_any_model_is_loaded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = run_cli(["upscale", str(tmp_path / "nope.png"), "-o", str(tmp_path / "out")], data)
    assert result.returncode == EXIT_NO_INPUT, result.stderr
    assert "nope.png: no such file or folder" in result.stderr
    assert models_converted(data) == [] and not (tmp_path / "out").exists()


def test_a_folder_without_images_is_an_error_not_zero_results(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("no image here")
    result = run_cli(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out")], tmp_path / "data")
    assert result.returncode == EXIT_NO_INPUT and "no images in" in result.stderr


def test_an_output_that_cannot_be_a_folder_is_refused_up_front(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), texture(16, 16))
    (tmp_path / "taken").write_text("a file where the output folder should be")
    data = tmp_path / "data"
    for output, reason in ((tmp_path / "taken", "is a file, not a folder"),
                           (tmp_path / "taken" / "out", "which is a file")):
        result = run_cli(["upscale", str(tmp_path / "a.png"), "-o", str(output), *COMPACT], data)
        assert result.returncode == EXIT_CANT_CREATE, result.stderr
        assert reason in result.stderr and "Traceback" not in result.stderr
    assert models_converted(data) == []


def test_an_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), texture(16, 16))
    result = run_cli(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "in" / "big")], tmp_path / "data")
    assert result.returncode == EXIT_CANT_CREATE and "inside the source folder" in result.stderr


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_each_failed_image_is_printed_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "good.png"), texture(16, 16))
    (tmp_path / "in" / "broken.jpg").write_bytes(b"<html>404</html>")
    result = run_cli(["upscale", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *COMPACT], tmp_path / "data")
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("failed")]
    assert len(failed) == 1 and "broken.jpg" in failed[0] and "not a recognised raster image" in failed[0]
    assert "1 images upscaled, 1 failed" in result.stderr


def test_a_location_that_refuses_the_file_is_output_not_writable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    try:
        with open_local_write(tmp_path / "file" / "out.png") as out:
            out.write(b"never")
    except OutputNotWritableError as exc:
        assert exc.code == "output_not_writable" and "out.png" in str(exc)
    else:
        raise AssertionError("writing under a file did not fail")


def test_submit_names_an_unknown_model_before_creating_anything(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "a.png"), texture(16, 16))
    result = run_cli(["submit", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--model", "realesrgan-x4pls"],
                     tmp_path / "data")
    assert result.returncode == EXIT_USAGE, result.stderr
    assert "unknown model 'realesrgan-x4pls' (did you mean 'realesrgan-x4plus'?)" in result.stderr
    assert "created" not in result.stderr


def test_an_empty_source_is_a_warning_and_with_strict_exit_66(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    args = ["submit", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]
    lenient = run_cli(args, tmp_path / "data", UPSCALER_ENGINE_NOOP="1")
    assert lenient.returncode == 0, lenient.stderr
    assert f"warning {tmp_path / 'empty'}: no images there" in lenient.stderr
    strict = run_cli([*args, "--strict"], tmp_path / "data", UPSCALER_ENGINE_NOOP="1")
    assert strict.returncode == EXIT_NO_INPUT and "no images there" in strict.stderr


def test_submit_that_runs_its_jobs_exits_1_when_one_failed(tmp_path: Path) -> None:
    """Without a broker the jobs run in the submitting process, as under --wait: a failed job is
    exit status 1, with the job's source and reason in the summary."""
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "good.png"), texture(16, 16))
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    result = run_cli(["submit", str(tmp_path / "in"), "-o", str(tmp_path / "out")], tmp_path / "data",
                     UPSCALER_ENGINE_NOOP="1")
    assert result.returncode == 1, result.stderr
    assert "1 succeeded, 1 failed" in result.stderr
    assert "failed" in result.stderr and "broken.png: [invalid_image]" in result.stderr


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_jobs_saved_while_the_broker_is_down_can_be_cancelled(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for i in range(3):
        cv2.imwrite(str(tmp_path / "in" / f"{i}.png"), texture(8, 8, seed=i))
    unreachable = {"UPSCALER_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    saved = run_cli(["submit", str(tmp_path / "in"), "-o", str(tmp_path / "out")], tmp_path / "data", **unreachable)
    assert saved.returncode == EXIT_NOT_SENT, saved.stderr
    batch = saved.stderr.split("batch ")[1].split(":")[0]
    cancelled = run_cli(["cancel", batch[:8]], tmp_path / "data")
    assert cancelled.returncode == 0 and f"batch {batch}: 3 queued jobs cancelled" in cancelled.stderr
    assert "3 cancelled" in run_cli(["status", batch], tmp_path / "data").stderr
    assert run_cli(["cancel", "ffffffff"], tmp_path / "data").returncode == 1
