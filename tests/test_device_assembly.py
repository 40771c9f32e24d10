"""Blending and final levels on the device (the CUDA path), run here on the CPU torch device:
the same output as the host path, bounded waiting rows, the device turn. The fp32 redo on both
paths: tests/test_engine_redo.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support import texture
from upscaler.engine import Engine
from upscaler.engine.levels import DeviceLevels, final_levels_numpy, final_levels_torch
from upscaler.engine.options import EngineOptions


@pytest.fixture(scope="module")
def engines(zoo, tiny_rrdb: Path):
    host = Engine(zoo, "cpu", "fp32", assemble_on_device=False)
    device = Engine(zoo, "cpu", "fp32", assemble_on_device=True)
    return host, device, str(tiny_rrdb)


def _max_level_difference(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


@pytest.mark.parametrize("layout", ["bgr", "gray", "bgra-model", "bgra-bicubic", "bgr16"])
def test_device_assembly_gives_the_host_paths_output(engines, layout: str) -> None:
    host, device, model = engines
    if layout == "gray":
        image = texture(70, 90, channels=1, seed=21)
    elif layout.startswith("bgra"):
        image = texture(70, 90, channels=4, seed=22)
    elif layout == "bgr16":
        image = texture(70, 90, seed=23).astype(np.uint16) * 257
    else:
        image = texture(70, 90, seed=24)
    options = EngineOptions(model=model, tile=24, tile_pad=6, batch_size=5,
                             alpha="model" if layout == "bgra-model" else "bicubic")
    expected = host.upscale(image, options)
    got = device.upscale(image, options)
    # Same floats, summed in another order: at most one level apart, and almost all equal.
    assert _max_level_difference(got, expected) <= 1
    assert np.mean(got != expected) < 0.01


def test_final_levels_agree_between_numpy_and_torch() -> None:
    rng = np.random.default_rng(5)
    rows = rng.random((9, 13, 3), dtype=np.float32)
    for kind in ("color", "gray", "alpha"):
        for maxval in (255.0, 65535.0):
            expected = final_levels_numpy(rows.copy(), kind, maxval)
            got = final_levels_torch(torch.from_numpy(rows), kind, maxval).numpy()
            assert got.shape == expected.shape
            assert np.abs(got.astype(np.float64) - expected).max() <= 1


class Collect:
    def __init__(self) -> None:
        self.written: list[tuple[int, int, np.dtype]] = []
        self.closed = False

    def write(self, top: int, levels: np.ndarray) -> None:
        assert not self.closed
        self.written.append((top, levels.shape[0], levels.dtype))

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_waiting_rows_stay_under_their_bound_and_arrive_in_order(dtype) -> None:
    sink = Collect()
    strip = torch.rand(4, 10, 3)  # 40 bytes of uint8 levels; 160 of the int32 that 16-bit levels travel as
    levels = DeviceLevels("alpha", dtype, sink, max_pending_bytes=300)
    for top in range(0, 40, 4):
        levels.write(top, strip)
        assert levels.pending_bytes <= 300
    assert sink.written and not sink.closed   # the oldest went on once over the bound
    levels.close()
    assert sink.written == [(top, 4, np.dtype(dtype)) for top in range(0, 40, 4)] and sink.closed


def test_the_device_turn_ends_before_the_rows_are_collected(engines, monkeypatch) -> None:
    """While one image waits for its rows, another may queue its tiles: the turn is not held."""
    _, device, model = engines
    others_could_take_it = []
    real_close = DeviceLevels.close

    def another_thread_takes_the_turn() -> None:
        taken = device._device_lock.acquire(timeout=0.5)
        if taken:
            device._device_lock.release()
        others_could_take_it.append(taken)

    def close(self) -> None:
        other = threading.Thread(target=another_thread_takes_the_turn)
        other.start()
        other.join()
        real_close(self)

    monkeypatch.setattr(DeviceLevels, "close", close)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    device.upscale(texture(30, 30, seed=26), EngineOptions(model=model, tile=16, tile_pad=4), timings=timings)
    assert others_could_take_it == [True]
    assert 0 <= timings["wait"] < (time.perf_counter() - started) * 1000
