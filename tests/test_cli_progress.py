"""Progress a person can follow: off a terminal, plain lines every UPSCALER_PROGRESS_EVERY seconds
(submit, compare); on a terminal, log lines through the bars' console, above the bars."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import pytest
from rich.console import Console

from cli.progress import bars, route_logs_through
from tests.cli_process import run_cli
from tests.textures import texture


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_submit_off_a_terminal_prints_progress_lines_with_the_time_left(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    for i in range(5):
        cv2.imwrite(str(tmp_path / "in" / f"{i}.png"), texture(8, 8, seed=i))
    result = run_cli(["submit", str(tmp_path / "in"), "-o", str(tmp_path / "out")], tmp_path / "data",
                     UPSCALER_ENGINE_NOOP="1", UPSCALER_ENGINE_NOOP_DELAY_MS="600",
                     UPSCALER_WORKER_JOBS_IN_FLIGHT="1", UPSCALER_PROGRESS_EVERY="0.5")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("jobs: ")]
    assert len(lines) >= 3, result.stderr
    assert any(" left" in line for line in lines) and lines[-1].startswith("jobs: 5/5")


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_compare_off_a_terminal_says_how_far_it_is(tmp_path: Path) -> None:
    (tmp_path / "in" / "fabric").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "in" / "fabric" / "a.png"), texture(16, 16))
    result = run_cli(["compare", str(tmp_path / "in"), "--models", "realesr-animevideov3", "-o", str(tmp_path / "r")],
                     tmp_path / "data", UPSCALER_PROGRESS_EVERY="0.5")
    assert result.returncode == 0, result.stderr
    assert "images x models: 1/1" in result.stderr


def test_log_lines_go_through_the_bars_console_on_a_terminal() -> None:
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=80)
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [logging.StreamHandler(io.StringIO())]
    try:
        route_logs_through(console)
        with bars(console=console) as progress:
            progress.add_task("jobs", total=2)
            logging.getLogger("workers.core.jobs").warning("job 1 succeeded")
        assert "job 1 succeeded" in screen.getvalue()
        assert "left" in screen.getvalue()  # the time left is drawn on the bar
    finally:
        root.handlers[:] = saved
