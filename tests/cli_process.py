"""Running the installed ``upscaler`` console script as a person does: a separate process with its
own data dir, a terminal width (``COLUMNS``), the exit status and both streams."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def upscaler_script() -> str:
    script = shutil.which("upscaler", path=str(Path(sys.executable).parent))
    assert script, "the upscaler console script is missing from the environment"
    return script


def cli_env(data_dir: Path, columns: int = 80, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env.update(UPSCALER_DATA_DIR=str(data_dir), COLUMNS=str(columns), TERM="dumb", NO_COLOR="1", **extra)
    return env


def run_cli(args: list[str], data_dir: Path, columns: int = 80, timeout: float = 300,
            **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([upscaler_script(), *args], capture_output=True, text=True, timeout=timeout,
                          env=cli_env(data_dir, columns, **extra))


def start_cli(args: list[str], data_dir: Path, **extra: str) -> subprocess.Popen:
    """The console script running in the background (stderr captured), to be signalled."""
    return subprocess.Popen([upscaler_script(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(data_dir, **extra))


def models_converted(data_dir: Path) -> list[str]:
    """What the run left in the model zoo: empty when no model was loaded."""
    folder = data_dir / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
