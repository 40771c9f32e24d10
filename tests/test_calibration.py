"""Precision calibration is measured once per machine, model, device and library versions, and
stored in the data dir: a second process reuses it; another model file or torch version does not."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import pytest
import torch
from typer.testing import CliRunner

from cli.main import app
from tests.support import TINY_RRDB, random_network_file, texture
from upscaler.engine import Engine, network, openvino_network
from upscaler.engine.calibration import CalibrationCache
from upscaler.settings import get_settings
from upscaler.zoo.registry import ModelZoo


def test_a_choice_is_measured_once_and_reused(tmp_path: Path) -> None:
    calls: list[int] = []

    def measure() -> str:
        calls.append(1)
        return "bf16"

    device = torch.device("cpu")
    assert CalibrationCache(tmp_path).choose("m", device, "aaa", measure) == "bf16"
    assert CalibrationCache(tmp_path).choose("m", device, "aaa", measure) == "bf16"  # another process
    assert len(calls) == 1
    CalibrationCache(tmp_path).choose("m", device, "bbb", measure)  # other weights
    assert len(calls) == 2


def test_another_torch_version_measures_again(tmp_path: Path, monkeypatch) -> None:
    measured = []
    cache = CalibrationCache(tmp_path)
    cache.choose("m", torch.device("cpu"), "aaa", lambda: measured.append("first") or "fp32")
    monkeypatch.setattr(torch, "__version__", "99.0.0")
    cache.choose("m", torch.device("cpu"), "aaa", lambda: measured.append("second") or "fp32")
    assert measured == ["first", "second"]


def test_a_damaged_record_is_measured_again(tmp_path: Path) -> None:
    cache = CalibrationCache(tmp_path)
    cache.choose("m", torch.device("cpu"), "aaa", lambda: "bf16")
    for record in tmp_path.iterdir():
        record.write_text("{not json")
    assert cache.choose("m", torch.device("cpu"), "aaa", lambda: "fp32") == "fp32"


def test_engines_in_two_processes_calibrate_once(tmp_path: Path, monkeypatch, caplog) -> None:
    weights = random_network_file(tmp_path, TINY_RRDB)
    other = random_network_file(tmp_path, TINY_RRDB, seed=1)
    picks: list[str] = []
    monkeypatch.setattr(network, "pick_precision", lambda net, device: picks.append(net.name) or "fp32")
    zoo = ModelZoo(tmp_path / "models")
    with caplog.at_level(logging.INFO, logger="upscaler.engine.calibration"):
        Engine(zoo, "cpu", "auto", calibration_dir=tmp_path / "cal").network(str(weights))
        Engine(zoo, "cpu", "auto", calibration_dir=tmp_path / "cal").network(str(weights))  # a new process
    assert picks == [weights.stem]
    assert "measured now and cached" in caplog.text and "from the cached calibration" in caplog.text
    Engine(zoo, "cpu", "auto", calibration_dir=tmp_path / "cal").network(str(other))  # another model file
    Engine(zoo, "cpu", "fp32", calibration_dir=tmp_path / "cal").network(str(other))  # --precision: no calibration
    assert picks == [weights.stem, other.stem]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_given_precision_is_used_as_it_is(tmp_path: Path, monkeypatch, precision: str) -> None:
    monkeypatch.setattr(network, "pick_precision", lambda net, device: pytest.fail("calibrated"))
    weights = random_network_file(tmp_path, TINY_RRDB)
    engine = Engine(ModelZoo(tmp_path / "models"), "cpu", precision, calibration_dir=tmp_path / "cal")
    assert engine.network(str(weights)).precision == precision
    assert not (tmp_path / "cal").exists()


@pytest.fixture
def own_data_dir(tmp_path: Path, monkeypatch) -> Path:
    """A data dir of its own: no calibration cached by other tests."""
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


@pytest.mark.parametrize("runtime", ["torch", "openvino"])
def test_a_second_upscale_says_it_used_the_cached_choice(own_data_dir: Path, tmp_path: Path,
                                                         monkeypatch, runtime: str) -> None:
    """What a user sees at the default log level: the first run measures, the second one does not,
    whichever runtime runs the network on the CPU."""
    monkeypatch.setenv("UPSCALER_CPU_RUNTIME", runtime)
    get_settings.cache_clear()
    weights = random_network_file(tmp_path, TINY_RRDB)
    cv2.imwrite(str(tmp_path / "swatch.png"), texture(12, 12))
    measured: list[str] = []
    module = network if runtime == "torch" else openvino_network
    real_pick = module.pick_precision
    monkeypatch.setattr(module, "pick_precision", lambda net, device, *candidates:
                        measured.append(net.name) or real_pick(net, device, *candidates))
    command = ["upscale", str(tmp_path / "swatch.png"), "-o", str(tmp_path / "out"), "--model", str(weights),
               "--device", "cpu", "--precision", "auto"]
    first, second = CliRunner().invoke(app, command), CliRunner().invoke(app, command)
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert measured == [weights.stem]
    assert "measured now and cached" in first.stderr and "cached calibration" not in first.stderr
    assert "from the cached calibration" in second.stderr and "not measured again" in second.stderr
    assert "measured now" not in second.stderr
    assert len(list((own_data_dir / "calibration").glob("*.json"))) == 1
