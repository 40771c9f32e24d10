"""How many threads a worker's PNG encodes get (workers/runtime.py): where the network runs on
the CPU, only the cores torch leaves free, so that encoding never slows inference down."""

from __future__ import annotations

import os

import pytest
import torch

from upscaler.imageio import png
from upscaler.settings import get_settings
from workers.core import runtime


@pytest.mark.parametrize("configured,on_cpu,cores,torch_threads,expected", [
    (0, False, 16, 16, 8),    # a GPU worker: up to 8 cores for a big image's tail
    (0, False, 2, 2, 2),
    (0, True, 2, 1, 1),       # torch on one of two cores: the encoder gets the other
    (0, True, 16, 12, 4),
    (0, True, 64, 8, 8),      # no more than 8, as anywhere
    (0, True, 2, 2, 1),       # torch on every core: one encode thread, as a plain encoder
    (0, True, 16, 0, 1),      # torch's default: the whole machine
    (3, True, 2, 2, 3),       # UPSCALER_PNG_THREADS wins
    (5, False, 16, 16, 5),
])
def test_png_threads_policy(configured, on_cpu, cores, torch_threads, expected) -> None:
    assert runtime.png_threads(configured, on_cpu, cores, torch_threads) == expected


@pytest.mark.parametrize("configured", ["0", "3"])
def test_a_cpu_worker_gives_the_encoder_the_cores_torch_leaves(monkeypatch, configured) -> None:
    monkeypatch.setattr(png, "PNG_THREADS", png.PNG_THREADS)   # restored after the test
    threads_before = torch.get_num_threads()
    for key, value in {"UPSCALER_DEVICE": "cpu", "UPSCALER_TORCH_THREADS": "1", "UPSCALER_PNG_THREADS": configured}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        engine = runtime._engine_for.__wrapped__(os.getpid())   # uncached: this process's engine stays
        assert engine.device.type == "cpu"
        cores = len(os.sched_getaffinity(0))
        assert png.PNG_THREADS == (3 if configured == "3" else max(1, min(8, cores - 1)))
    finally:
        torch.set_num_threads(threads_before)
        get_settings.cache_clear()
