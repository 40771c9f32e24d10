"""The command line starts in a blink: commands that load no model never import torch (seconds
to import), and the embedded database's migrations do not narrate themselves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import re, runpy, sys
sys.argv = ["upscaler", *sys.argv[1:]]
try:
    runpy.run_module("cli.main", run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
heavy = sorted(m for m in ("torch", "torchvision", "basicsr", "cv2") if m in sys.modules)
print("IMPORTED:" + ",".join(heavy), file=sys.stderr)
# The peak resident set of this program (VmHWM: unlike ru_maxrss, not the forking parent's).
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1))
print(f"RSS_MB:{peak_kb / 1024:.0f}", file=sys.stderr)
sys.exit(code or 0)
"""


def run(args: list[str], data_dir: Path, **settings: str) -> subprocess.CompletedProcess:
    env = {"UPSCALER_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "HOME": str(data_dir),
           **{f"UPSCALER_{k.upper()}": v for k, v in settings.items()}}
    return subprocess.run([sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).resolve().parents[1])


@pytest.mark.parametrize("args", [["--help"], ["status"], ["watch", "list"], ["db", "upgrade"], ["submit", "--help"],
                                  ["upscale", "--help"], ["models", "list"]])
def test_light_commands_import_no_torch(args: list[str], tmp_path: Path) -> None:
    result = run(args, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = result.stderr.rsplit("IMPORTED:", 1)[1].strip()
    assert "torch" not in imported.split(","), (args, imported)


# Peak resident memory of a command that only talks to SQL and the broker, megabytes: the
# interpreter, SQLAlchemy, Celery, boto3 and the settings come to about 90 on x86-64 Linux.
PRODUCER_RSS_MB = 150


@pytest.mark.parametrize("command", ["submit", "status", "watch scan"])
def test_producer_commands_import_no_torch(command: str, tmp_path: Path, redis_url: str) -> None:
    """Commands that create, send or count jobs, with a broker (so that nothing runs in this
    process): no torch, no OpenCV, and small."""
    import cv2

    from tests.textures import texture

    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "one.png"), texture(16, 16))
    args = {"submit": ["submit", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--json"],
            "status": ["status"], "watch scan": ["watch", "scan"]}[command]
    result = run(args, tmp_path, broker_url=redis_url)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = result.stderr.rsplit("IMPORTED:", 1)[1].split("\n", 1)[0].strip()
    assert imported == "", (command, imported)
    assert int(result.stderr.rsplit("RSS_MB:", 1)[1].split()[0]) < PRODUCER_RSS_MB
    if command == "submit":
        assert json.loads(result.stdout)["created"] == 1


def test_models_list_shows_imported_models_without_torch(tmp_path: Path) -> None:
    from tests.support import TINY_RRDB, random_network_file
    from upscaler.zoo.registry import ModelZoo

    weights = random_network_file(tmp_path, TINY_RRDB)
    ModelZoo(tmp_path / "models").import_file(weights, "tiny-listed", "a tiny net")
    result = run(["models", "list", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch" not in result.stderr.rsplit("IMPORTED:", 1)[1].strip().split(",")
    listed = {row["name"]: row for row in json.loads(result.stdout)}
    assert listed["tiny-listed"]["imported"] and listed["tiny-listed"]["arch"] == "RRDBNet"
    assert listed["tiny-listed"]["scale"] == 4 and listed["tiny-listed"]["description"] == "a tiny net"
    assert not listed["tiny-listed"]["builtin"]
    assert listed["realesrgan-x4plus"]["builtin"] and not listed["realesrgan-x4plus"]["imported"]


def test_first_status_prints_no_migration_chatter(tmp_path: Path) -> None:
    result = run(["status"], tmp_path)
    assert result.returncode == 0 and "alembic" not in result.stderr and "INFO" not in result.stderr


def _converted_tiny_model(data_dir: Path) -> str:
    """A tiny model in the zoo, converted for OpenVINO and calibrated in ``data_dir``, as a first
    run leaves them (done here, in a process that has torch anyway)."""
    from tests.support import TINY_SRVGG, random_network_file
    from upscaler.engine import Engine
    from upscaler.settings import Settings
    from upscaler.zoo.registry import ModelZoo

    zoo = ModelZoo(data_dir / "models")
    zoo.import_file(random_network_file(data_dir, TINY_SRVGG), "tiny-cpu")
    engine = Engine.from_settings(zoo, Settings(data_dir=data_dir), device="cpu")
    assert engine.network("tiny-cpu").runtime == "openvino"
    return "tiny-cpu"


def _imported(result: subprocess.CompletedProcess) -> set[str]:
    return set(result.stderr.rsplit("IMPORTED:", 1)[1].strip().split(","))


@pytest.mark.slow  # a whole command-line process (seconds on two cores)
def test_upscale_on_the_cached_cpu_path_imports_no_torch(tmp_path: Path) -> None:
    """Once the model is converted, `upscaler upscale` on a CPU (the default device, auto) decodes,
    tiles, runs OpenVINO and assembles without importing torch or basicsr."""
    import cv2

    from tests.support import texture

    model = _converted_tiny_model(tmp_path)
    cv2.imwrite(str(tmp_path / "swatch.png"), texture(30, 26, seed=2))
    result = run(["upscale", str(tmp_path / "swatch.png"), "-o", str(tmp_path / "out"), "--model", model,
                  "--tile", "16", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not {"torch", "torchvision", "basicsr"} & _imported(result), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["images"] == 1 and report["runtime"] == "openvino" and report["device"] == "cpu"
    assert cv2.imread(str(tmp_path / "out" / "swatch.png")).shape == (120, 104, 3)


@pytest.mark.slow
def test_the_in_process_worker_on_the_cached_cpu_path_imports_no_torch(tmp_path: Path) -> None:
    """`submit --wait` with no broker: the in-process worker runs the jobs on the same backend,
    OpenVINO from the cached conversion, without importing torch or basicsr."""
    import cv2

    from tests.support import texture

    model = _converted_tiny_model(tmp_path)
    (tmp_path / "catalogue").mkdir()
    cv2.imwrite(str(tmp_path / "catalogue" / "oak.png"), texture(20, 24, seed=1))
    result = run(["submit", str(tmp_path / "catalogue"), "--output", str(tmp_path / "out"), "--model", model,
                  "--wait", "--json"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not {"torch", "torchvision", "basicsr"} & _imported(result), result.stderr[-2000:]
    assert "running on openvino" in result.stderr
    assert json.loads(result.stdout)["summary"]["counts"]["succeeded"] == 1
    assert cv2.imread(str(tmp_path / "out" / "oak.png")).shape == (80, 96, 3)
