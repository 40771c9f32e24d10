"""``auto`` precision: the fastest candidate that stays within 45 dB of fp32, else fp32."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from upscaler.engine import devices


class FakeNetwork:
    """Outputs and speeds per precision, as if measured on some hardware."""

    name = "fake"

    def __init__(self, error: dict[str, float], seconds: dict[str, float]) -> None:
        self.error, self.seconds = error, seconds

    def run(self, batch: np.ndarray, precision: str) -> np.ndarray:
        time.sleep(self.seconds[precision])
        out = np.repeat(np.repeat(batch, 4, axis=1), 4, axis=2)
        return out + self.error[precision]


@pytest.fixture
def two_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "candidate_precisions", lambda device: ["fp16", "bf16"])


def test_fastest_accurate_candidate_wins(two_candidates) -> None:
    net = FakeNetwork({"fp32": 0, "fp16": 0.001, "bf16": 0.001}, {"fp32": 0.03, "fp16": 0.02, "bf16": 0.005})
    assert devices.pick_precision(net, torch.device("cpu")) == "bf16"


def test_inaccurate_candidate_is_never_picked(two_candidates) -> None:
    # 0.01 off everywhere = 40 dB: faster, but below the 45 dB floor.
    net = FakeNetwork({"fp32": 0, "fp16": 0.01, "bf16": 0.01}, {"fp32": 0.02, "fp16": 0.001, "bf16": 0.001})
    assert devices.pick_precision(net, torch.device("cpu")) == "fp32"


def test_slower_candidate_is_not_picked(two_candidates) -> None:
    net = FakeNetwork({"fp32": 0, "fp16": 0.0, "bf16": 0.0}, {"fp32": 0.001, "fp16": 0.02, "bf16": 0.02})
    assert devices.pick_precision(net, torch.device("cpu")) == "fp32"


def test_cpu_candidates_follow_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.candidate_precisions(torch.device("cpu")) == []
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.candidate_precisions(torch.device("cpu")) == ["bf16"]


def test_device_names_are_checked() -> None:
    assert devices.resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError):
        devices.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            devices.resolve_device("cuda")
