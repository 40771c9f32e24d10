"""The embedded default: no broker, SQLite in the data dir, local folders, an in-process worker."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.services import run_cli, service_env
from tests.support import texture


@pytest.mark.slow
def test_submit_folder_wait_runs_everything_in_process(tmp_path: Path, isolated_data_dir: Path) -> None:
    src = tmp_path / "catalogue"
    (src / "wood").mkdir(parents=True)
    cv2.imwrite(str(src / "wood" / "oak.png"), texture(20, 24, seed=1))
    cv2.imwrite(str(src / "slate.jpg"), texture(16, 16, seed=2))
    (src / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    data_dir = tmp_path / "state"
    # Share the already converted models, keep the SQLite database private to this test.
    data_dir.mkdir()
    (isolated_data_dir / "models").mkdir(exist_ok=True)
    (data_dir / "models").symlink_to(isolated_data_dir / "models", target_is_directory=True)
    env = service_env(data_dir)
    result = run_cli(["submit", str(src), "--output", str(out), "--model", "realesr-animevideov3", "--wait", "--json"], env)
    assert result.returncode == 1, result.stderr  # one job failed (the empty file): the exit status says so
    report = json.loads(result.stdout)
    assert report["created"] == 3
    assert report["summary"]["counts"]["succeeded"] == 2 and report["summary"]["counts"]["failed"] == 1
    assert report["summary"]["failures"][0]["error_code"] == "invalid_image"
    assert "empty file" in report["summary"]["failures"][0]["error"]
    assert cv2.imread(str(out / "wood" / "oak.png")).shape == (80, 96, 3)
    assert cv2.imread(str(out / "slate.jpg")).shape == (64, 64, 3)
    assert (data_dir / "upscaler.sqlite3").is_file()

    again = json.loads(run_cli(["submit", str(src), "--output", str(out), "--model", "realesr-animevideov3",
                                "--json"], env).stdout)
    assert again["created"] == 0 and again["duplicates"] == 3

    status = json.loads(run_cli(["status", "--json"], env).stdout)
    assert len(status) == 1 and status[0]["counts"]["succeeded"] == 2
    retried = json.loads(run_cli(["retry", report["batch_id"], "--json"], env).stdout)
    assert retried["requeued"] == 1  # the empty file fails again, in-process, and is recorded
    final = json.loads(run_cli(["status", report["batch_id"], "--json"], env).stdout)
    assert final["counts"]["failed"] == 1 and final["failures"][0]["attempts"] == 1  # a retry starts a new budget
