"""The fused dense-block kernels (upscaler/engine/fused/) against basicsr's own blocks, on the CPU.

Triton's interpreter (TRITON_INTERPRET=1) runs the kernels with NumPy. Triton reads that variable
when a kernel is decorated, at import, and pytest imports every test module before it runs any:
so the kernels run in a child process started with the variable set, whatever this process has
imported. The child makes every comparison once and prints its measures as JSON; each test checks
its own. Shapes are tiny (the interpreter runs each program in Python) and odd-sized, so that
image borders and tiles that straddle two images of a batch are exercised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
PSNR_FLOOR = 45.0


def psnr(reference: torch.Tensor, output: torch.Tensor) -> float:
    """dB, the reference's largest magnitude as the peak."""
    mse = (reference.double() - output.double()).pow(2).mean().item()
    peak = reference.abs().max().item()
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def compare(reference: torch.Tensor, output: torch.Tensor) -> dict:
    return {"psnr": psnr(reference, output), "max_abs": (reference - output.float()).abs().max().item(),
            "peak": reference.abs().max().item(), "shape": list(output.shape)}


def equal_in_fp32(result: dict) -> bool:
    """The fp32 criterion: >= 45 dB and float32 rounding apart. The PSNR alone is lenient here:
    a block's output is mostly its input (``x5 * 0.2 + x``), so even a wrong activation slope
    stays above 45 dB on these weights; the max-abs bound is what catches it."""
    return result["psnr"] >= PSNR_FLOOR and result["max_abs"] <= 1e-5 * max(1.0, result["peak"])


def lively(module: torch.nn.Module) -> torch.nn.Module:
    """Weights that make every convolution matter: basicsr's init scales them by 0.1, which leaves
    a block's output mostly its input, and a wrong dense path would hide inside the residual."""
    torch.manual_seed(0)
    for conv in module.modules():
        if isinstance(conv, torch.nn.Conv2d):
            fan_in = conv.in_channels * 9
            torch.nn.init.normal_(conv.weight, std=fan_in ** -0.5)
            torch.nn.init.uniform_(conv.bias, -0.1, 0.1)
    return module.eval()


def measure() -> dict:
    """Runs in the child, under the interpreter: every comparison the tests check."""
    import upscaler.compat  # noqa: F401  (before basicsr)
    from basicsr.archs.rrdbnet_arch import RRDB, ResidualDenseBlock, RRDBNet

    from upscaler.engine.fused import FusedDenseBlock, FusedRRDB, fuse_dense_blocks
    from upscaler.engine.fused.conv import INTERPRETED

    results: dict = {"interpreted": INTERPRETED}
    channels_last = torch.channels_last
    gen = torch.Generator().manual_seed(1)
    with torch.inference_mode():
        rdb = lively(ResidualDenseBlock(64, 32))
        fused_rdb = FusedDenseBlock(rdb)
        x = torch.randn(1, 64, 9, 11, generator=gen).contiguous(memory_format=channels_last)
        reference, output = rdb(x.clone()), fused_rdb(x)
        results["rdb_fp32"] = compare(reference, output)
        # The same block with the slope wrong: what the comparison must catch.
        rdb.lrelu.negative_slope = 0.1
        results["rdb_wrong_slope"] = compare(rdb(x.clone()), output)
        rdb.lrelu.negative_slope = 0.2

        # Plain NCHW strides, and 2 x 5 x 7 = 70 pixels: the first tile of pixels spans both images.
        x2 = torch.randn(2, 64, 5, 7, generator=gen)
        results["rdb_fp32_nchw_batch2"] = compare(rdb(x2.clone()), fused_rdb(x2))
        results["rdb_fp16"] = compare(reference, FusedDenseBlock(rdb).half()(x.half()))

        rrdb = lively(RRDB(64, 32))
        x3 = torch.randn(1, 64, 7, 10, generator=gen).contiguous(memory_format=channels_last)
        results["rrdb_fp32"] = compare(rrdb(x3.clone()), FusedRRDB(rrdb)(x3))

        net = lively(RRDBNet(3, 3, scale=4, num_feat=64, num_block=1, num_grow_ch=32))
        image = torch.rand(1, 3, 6, 7, generator=gen).contiguous(memory_format=channels_last)
        reference = net(image)
        fuse_dense_blocks(net)
        results["rrdbnet"] = compare(reference, net(image))
        results["rrdbnet_body"] = [type(m).__name__ for m in net.body]
        results["rrdbnet_body_convs"] = sum(isinstance(m, torch.nn.Conv2d) for m in net.body.modules())
    return results


@pytest.fixture(scope="module")
def measured() -> dict:
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, __file__], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_kernels_ran_in_the_interpreter(measured: dict) -> None:
    assert measured["interpreted"] is True


def test_fused_dense_block_equals_basicsr_in_fp32(measured: dict) -> None:
    assert equal_in_fp32(measured["rdb_fp32"])


def test_any_strides_and_tiles_across_images(measured: dict) -> None:
    result = measured["rdb_fp32_nchw_batch2"]
    assert result["shape"] == [2, 64, 5, 7]
    assert equal_in_fp32(result)


def test_fused_dense_block_in_fp16_keeps_fp32_quality(measured: dict) -> None:
    result = measured["rdb_fp16"]
    assert result["psnr"] >= PSNR_FLOOR
    assert result["max_abs"] <= 1e-2 * max(1.0, result["peak"])


def test_fused_rrdb_equals_basicsr(measured: dict) -> None:
    assert equal_in_fp32(measured["rrdb_fp32"])


def test_fuse_dense_blocks_swaps_the_trunk_and_keeps_the_output(measured: dict) -> None:
    assert measured["rrdbnet_body"] == ["FusedRRDB"]
    assert measured["rrdbnet_body_convs"] == 0  # every dense-block convolution now runs fused
    result = measured["rrdbnet"]
    assert result["shape"] == [1, 3, 24, 28]
    assert equal_in_fp32(result)


def test_the_comparison_catches_a_wrong_activation_slope(measured: dict) -> None:
    assert equal_in_fp32(measured["rdb_fp32"])
    assert not equal_in_fp32(measured["rdb_wrong_slope"])


def test_a_network_on_cpu_runs_eagerly_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    import upscaler.compat  # noqa: F401  (before basicsr)
    from basicsr.archs.rrdbnet_arch import RRDBNet

    from upscaler.engine import network
    from upscaler.zoo.archs import ArchSpec

    params = {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 16, "num_block": 1, "num_grow_ch": 8}
    state = lively(RRDBNet(**params)).state_dict()
    network._fused_kernels_need_cuda.cache_clear()
    with caplog.at_level(logging.WARNING, logger=network.__name__):
        net = network.Network("tiny", ArchSpec("RRDBNet", params, 4), state, torch.device("cpu"), "fp32",
                              fused_kernels=True)
    assert not net.fused_kernels
    assert "fused kernels need CUDA" in caplog.text
    assert "RRDB" in {type(m).__name__ for m in net.module("fp32").body}
    out = net.run(np.full((1, 4, 5, 3), 0.5, np.float32))
    assert out.shape == (1, 16, 20, 3)


if __name__ == "__main__":
    print(json.dumps(measure()))


def test_the_setting_reaches_the_engines_networks(tmp_path: Path, tiny_rrdb: Path, monkeypatch, caplog) -> None:
    """UPSCALER_FUSED_KERNELS turns the fused blocks on for every network an engine loads (on a
    CPU that means a warning and the eager network)."""
    import logging

    from upscaler.engine import Engine
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    monkeypatch.setenv("UPSCALER_FUSED_KERNELS", "true")
    monkeypatch.setenv("UPSCALER_CPU_RUNTIME", "torch")  # fused kernels are torch's (a CPU runs OpenVINO by default)
    get_settings.cache_clear()
    try:
        engine = Engine.from_settings(ModelZoo(tmp_path / "models"), get_settings(), "cpu", "fp32")
        assert engine.fused_kernels
        from upscaler.engine import network

        network._fused_kernels_need_cuda.cache_clear()  # said once per process: maybe said already
        with caplog.at_level(logging.WARNING):
            engine.network(str(tiny_rrdb))
        assert any("CUDA" in r.getMessage() for r in caplog.records)
    finally:
        get_settings.cache_clear()
