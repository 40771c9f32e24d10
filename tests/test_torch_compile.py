"""torch.compile in the engine (engine/compiled.py, UPSCALER_TORCH_COMPILE): compiled while the model
loads, in the precision the engine settled on only; the same output as the eager engine for every
window and batch size (one compilation with dynamic shapes); any failure to compile or run the
compiled code falls back to eager for good. The real compilation runs here on the CPU (inductor's
C++ backend); bench/gpu.sh measures it on CUDA."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from upscaler.engine import Engine
from upscaler.engine import compiled as compiled_module
from upscaler.engine.options import EngineOptions
from upscaler.settings import Settings


def picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    smooth = np.linspace(0, 200, width, dtype=np.float32)[None, :, None] + rng.normal(0, 25, (height, width, 3))
    return np.clip(smooth, 0, 255).astype(np.uint8)


class FakeCompile:
    """Stands in for torch.compile: records what was compiled and how, and can fail like inductor."""

    def __init__(self, fail: bool = False) -> None:
        self.fail, self.compiled, self.calls = fail, [], []

    def __call__(self, module, **options):
        self.compiled.append((module, options))

        def forward(x):
            self.calls.append(tuple(x.shape))
            if self.fail:
                raise RuntimeError("InductorError: CppCompileError: C++ compile error\nlong log")
            return module(x)

        return forward


@pytest.mark.slow
def test_real_compilation_matches_eager_across_window_and_batch_sizes(zoo, tiny_rrdb) -> None:
    torch._dynamo.reset()
    eager = Engine(zoo, "cpu", "fp32")
    compiled = Engine(zoo, "cpu", "fp32", torch_compile=True)
    net = compiled.network(str(tiny_rrdb))
    forward = net._compiled["fp32"]
    assert isinstance(forward, compiled_module.CompiledForward)
    assert forward.compilations == 1  # at load, for the default window, one tile a batch (CPU)
    # Whole-image windows of two other sizes: the same compilation. Then 2x2 tiles two to a batch:
    # batches of 2 and more compile once more (torch specialises a batch of 1). (Windows stay over
    # ~83x83, a size range the CPU convolutions split at; engine tiles are bigger.)
    cases = [(picture(96, 110), 0, None, 1), (picture(120, 90, seed=1), 0, None, 1),
             (picture(200, 200, seed=2), 100, 2, 2)]
    for pixels, tile, batch, compilations in cases:
        options = EngineOptions(model=str(tiny_rrdb), tile=tile, tile_pad=6, batch_size=batch)
        expected = eager.upscale(pixels, options)
        got = compiled.upscale(pixels, options)
        assert got.shape == expected.shape
        assert np.abs(got.astype(int) - expected).max() <= 1
        assert forward.compilations == compilations
    assert not forward.failed
    assert net.compile_status == "2 compilation(s)"


def test_only_the_chosen_precision_compiles_at_load(zoo, tiny_srvgg, monkeypatch) -> None:
    fake = FakeCompile()
    monkeypatch.setattr(compiled_module.torch, "compile", fake)
    engine = Engine(zoo, "cpu", "auto", torch_compile=True)
    net = engine.network(str(tiny_srvgg))
    assert list(net._compiled) == [net.precision]            # not every precision the probe tried
    assert len(fake.compiled) == 1 and fake.compiled[0][1] == {"dynamic": True}
    assert fake.calls == [(1, 3, 224, 223)]                  # warmed up at load: CPU batch 1, default window
    engine.upscale(picture(40, 40), EngineOptions(model=str(tiny_srvgg)))
    assert fake.calls[1:] == [(1, 3, 40, 40)]                # images then run through it


def test_the_setting_off_compiles_nothing(zoo, tiny_srvgg, monkeypatch) -> None:
    fake = FakeCompile()
    monkeypatch.setattr(compiled_module.torch, "compile", fake)
    net = Engine(zoo, "cpu", "fp32").network(str(tiny_srvgg))
    assert net.compile(1, 64) == 0.0
    assert fake.compiled == [] and net._compiled == {} and net.compile_status == "off"


def test_a_compile_failure_falls_back_to_eager_for_good(zoo, tiny_srvgg, monkeypatch, caplog) -> None:
    fake = FakeCompile(fail=True)
    monkeypatch.setattr(compiled_module.torch, "compile", fake)
    caplog.set_level(logging.WARNING, logger="upscaler.engine.compiled")
    engine = Engine(zoo, "cpu", "fp32", torch_compile=True)
    net = engine.network(str(tiny_srvgg))                    # the warm-up at load fails
    assert net._compiled["fp32"].failed and net.compile_status == "failed (eager)"
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1
    assert "torch.compile failed (RuntimeError: InductorError: CppCompileError: C++ compile error)" in warnings[0]
    options = EngineOptions(model=str(tiny_srvgg))
    pixels = picture(30, 30)
    expected = Engine(zoo, "cpu", "fp32").upscale(pixels, options)
    np.testing.assert_array_equal(engine.upscale(pixels, options), expected)
    assert len(fake.calls) == 1                              # never tried again
    assert len(caplog.records) == 1


def test_a_failure_while_running_compiled_code_recomputes_that_batch_eagerly(tiny_srvgg, zoo, monkeypatch) -> None:
    calls = []
    fail_on_call = 2  # the warm-up at load succeeds, the image's batch fails

    def flaky_compile(module, **options):
        def forward(x):
            calls.append(x.shape)
            if len(calls) == fail_on_call:
                raise RuntimeError("CUDA error: an illegal memory access in a generated kernel")
            return module(x)
        return forward

    monkeypatch.setattr(compiled_module.torch, "compile", flaky_compile)
    engine = Engine(zoo, "cpu", "fp32", torch_compile=True)
    options = EngineOptions(model=str(tiny_srvgg))
    pixels = picture(32, 48, seed=3)
    expected = Engine(zoo, "cpu", "fp32").upscale(pixels, options)
    np.testing.assert_array_equal(engine.upscale(pixels, options), expected)
    assert engine.network(str(tiny_srvgg))._compiled["fp32"].failed


def test_the_setting_reaches_the_engine(zoo) -> None:
    assert Engine.from_settings(zoo, Settings()).torch_compile is False
    engine = Engine.from_settings(zoo, Settings(torch_compile=True, cuda_graphs=False), precision="fp32")
    assert (engine.torch_compile, engine.cuda_graphs, engine.precision) == (True, False, "fp32")


def test_a_failure_inside_a_cuda_graph_capture_is_the_captures_not_the_compilers(zoo, tiny_srvgg, monkeypatch) -> None:
    """The graph cache turns graphs off when a capture fails (engine/graphs.py); the compiled code
    must not be given up for it. (A capture needs CUDA: here the capture state is stood in for.)"""
    monkeypatch.setattr(compiled_module.torch, "compile", FakeCompile())
    net = Engine(zoo, "cpu", "fp32", torch_compile=True).network(str(tiny_srvgg))
    forward = net._compiled["fp32"]

    def capture_refused(x):
        raise RuntimeError("operation not permitted when stream is capturing")

    forward.compiled = capture_refused
    monkeypatch.setattr(compiled_module, "_capturing", lambda x: True)
    with torch.inference_mode(), pytest.raises(RuntimeError, match="stream is capturing"):
        forward(torch.rand(1, 3, 16, 16))
    assert not forward.failed
