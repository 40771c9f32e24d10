"""bench/flops.py: multiply-adds counted from the layers, peak lookup, achieved TFLOP/s."""

from __future__ import annotations

import pytest
import torch

from bench import flops
from tests.support import TINY_RRDB
from upscaler.zoo.archs import build


def test_x4plus_macs_match_the_architecture_by_hand(zoo):
    # RRDBNet x4plus: num_feat 64, grow 32, 23 RRDB blocks, all 3x3 convs. Per input pixel:
    #   each RDB: 5 convs with 64, 96, 128, 160, 192 input channels -> 32, 32, 32, 32, 64 outputs
    #     9 * (64*32 + 96*32 + 128*32 + 160*32 + 192*64) = 239,616; x 3 RDB x 23 RRDB = 16,533,504
    #   conv_first 3->64: 1,728; conv_body 64->64: 36,864
    #   conv_up1 64->64 at 2x (4 output px per input px): 147,456
    #   conv_up2 and conv_hr 64->64 at 4x (16 px): 589,824 each; conv_last 64->3 at 4x: 27,648
    #   total 17,926,848 (~17.9 M MACs, ~35.9 TFLOP per input megapixel)
    by_hand = 9 * (64 * 32 + 96 * 32 + 128 * 32 + 160 * 32 + 192 * 64) * 3 * 23 \
        + 9 * (3 * 64 + 64 * 64 + 4 * 64 * 64 + 16 * 64 * 64 * 2 + 16 * 64 * 3)
    assert by_hand == 17_926_848
    macs = flops.model_macs("realesrgan-x4plus", zoo)
    assert macs == pytest.approx(17.9e6, rel=0.02)
    assert macs == by_hand  # the hooks see every conv, at the resolution it runs at
    assert flops.tflop_per_megapixel(macs) == pytest.approx(35.85, abs=0.01)


def test_count_is_per_pixel_whatever_the_input_size(zoo):
    spec = zoo.info("realesrgan-x4plus").spec
    with torch.device("meta"):
        net = build(spec)
    assert flops.macs_per_input_pixel(net, 32) == flops.macs_per_input_pixel(net, 64)


def test_compact_model_counts_the_same_on_cpu_and_is_much_cheaper(zoo):
    compact = flops.model_macs("realesr-animevideov3", zoo)
    # 3->64, 16 x 64->64, 64->48 (pixel shuffle to x4), all 3x3: 9 * (192 + 16*4096 + 3072)
    assert compact == 9 * (3 * 64 + 16 * 64 * 64 + 64 * 48)
    cpu_net = build(zoo.info("realesr-animevideov3").spec)  # a real forward, random weights
    assert flops.macs_per_input_pixel(cpu_net, 32) == compact
    assert compact < flops.model_macs("realesrgan-x4plus", zoo) / 20


def test_linear_and_transposed_convs_are_counted():
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ConvTranspose2d(8, 4, 2, stride=2),
                        nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    per_px = flops.macs_per_input_pixel(net, 8)
    expected = (8 * 8 * 8 * 3 * 9 + 8 * 8 * 8 * 4 * 4 + 4 * 16 * 16 * 10) / 64
    assert per_px == expected


def test_tiny_rrdb_on_cpu_matches_meta():
    net = build(TINY_RRDB)
    with torch.device("meta"):
        meta = build(TINY_RRDB)
    assert flops.macs_per_input_pixel(net, 16) == flops.macs_per_input_pixel(meta, 16) > 0


@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0), ("NVIDIA H200 NVL", 835.0), ("NVIDIA A100-SXM4-80GB", 312.0),
    ("NVIDIA A100 80GB PCIe", 312.0), ("NVIDIA L4", 121.0), ("NVIDIA L40S", 362.0), ("NVIDIA L40", 181.0),
    ("NVIDIA A10", 125.0), ("NVIDIA GeForce RTX 4090", 165.0),
    ("NVIDIA A10G", None), ("Tesla V100-SXM2-16GB", None), ("NVIDIA GeForce RTX 3090", None),
    (None, None),
])
def test_peak_lookup(name, peak):
    assert flops.peak_tflops(name) == peak


def test_achieved_tflops_arithmetic():
    # 10 input MP/s of a 17.9 M MAC/px network: 10e6 * 17.9e6 * 2 = 358e12 FLOP/s
    tflops, fraction = flops.achieved(10.0, 17.9e6, 989.0)
    assert tflops == pytest.approx(358.0)
    assert fraction == pytest.approx(358.0 / 989.0)
    assert flops.achieved(10.0, 17.9e6, None) == (pytest.approx(358.0), None)


ENGINE_OUTPUT = """\
  ours bf16->bf16 batch=4        colour-1024       0.31 s
| run | input MP/s | ratio | min PSNR to RealESRGANer fp32 output (dB) | min PSNR to exact fp32 output |
|---|---|---|---|---|
| reference tile=200 fp16 | 0.5000 | 1.00 | - | 40.3 |
| ours auto->bf16 batch=1 tile=200 pad=12 | 2.0000 | 4.00 | 39.5 | 47.0 |
| ours bf16->bf16 batch=16 tile=200 pad=12 | 2.6000 | 5.20 | 39.5 | 47.0 |
| ours fp32->fp32 batch=16 tile=200 pad=12 | 1.0000 | 2.00 | 39.7 | 47.8 |
Best: **ours bf16->bf16 batch=16**, 5.20x the reference's megapixels/s
"""


def test_engine_table_gives_the_best_run():
    best = flops.parse_engine_table(ENGINE_OUTPUT)
    assert best["run"] == "ours bf16->bf16 batch=16 tile=200 pad=12"
    assert (best["mp_per_s"], best["ratio"], best["reference_mp_per_s"]) == (2.6, 5.2, 0.5)
    assert flops.parse_engine_table("Traceback (most recent call last):\n  ...") is None


def test_headline_judges_each_target():
    result = {"ratio": 5.2, "mp_per_s": 2.6, "reference_mp_per_s": 0.5, "tflops": 93.2,
              "peak_fraction": 0.094, "peak_text": "989 TFLOP/s"}
    busy = {"valid": True, "busy_fraction": 0.95, "note": "BENCH-START to BENCH-END"}
    lines, table = flops.headline(result, busy)
    assert "5.20x" in lines[0] and "MET" in lines[0]
    assert "9.4% of 989 TFLOP/s" in lines[1] and "MISSED" in lines[1]
    assert "95.0%" in lines[2] and "MET" in lines[2]
    failed = {"valid": False, "busy_fraction": 0.5, "note": "command exited with status 1"}
    lines, _ = flops.headline({}, failed)
    assert all("n/a" in line for line in lines)
    assert "not measured (command exited with status 1)" in lines[2]
    assert table.count("\n") == 4


def test_summary_writes_its_results_section(tmp_path, monkeypatch, capsys):
    import bench.common

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\n## Engine vs RealESRGANer (CUDA)\n\nkept\n")
    monkeypatch.setattr(bench.common, "RESULTS", results)  # never the real bench/RESULTS.md
    result = {"ratio": 4.5, "mp_per_s": 9.0, "reference_mp_per_s": 2.0, "tflops": 322.6,
              "peak_fraction": 0.326, "peak_text": "989 TFLOP/s", "macs_per_px": 17926848.0,
              "model": "realesrgan-x4plus", "source": "bench/engine.py best run",
              "run": "ours auto->bf16 batch=16"}
    flops.print_summary(result, None, write=True)
    text = results.read_text()
    assert "## Engine vs RealESRGANer (CUDA)\n\nkept" in text
    assert f"## {flops.SECTION_TITLE}" in text
    assert "| 4.50x (9.000 vs 2.000 input MP/s) | >= 4x | MET |" in text
    assert "17,926,848 multiply-adds per input pixel" in text
    assert "not measured (gpu_busy.py did not run)" in capsys.readouterr().out


@pytest.mark.parametrize("vendor,flags,precision,per_cycle", [
    ("GenuineIntel", {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}, "fp32", 64),
    ("GenuineIntel", {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}, "bf16", 1024),
    ("GenuineIntel", {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8"}, "int8", 2048),
    ("GenuineIntel", {"avx512f", "avx512_bf16", "avx512_vnni"}, "bf16", 128),
    ("AuthenticAMD", {"avx512f", "avx512_bf16", "avx512_vnni", "fma"}, "fp32", 32),   # Zen 4
    ("AuthenticAMD", {"avx512f", "avx512_bf16", "avx512_vnni", "fma"}, "bf16", 64),
    ("AuthenticAMD", {"avx2", "fma"}, "bf16", 32),   # no native bf16: the fp32 rate
])
def test_cpu_flops_per_cycle_follow_the_features(vendor, flags, precision, per_cycle):
    assert flops.cpu_flops_per_cycle(precision, flags, vendor)[0] == per_cycle


def test_cpu_dense_peak_is_cores_times_rate_times_clock():
    cpu = {"vendor": "AuthenticAMD", "flags": {"avx512f", "avx512_bf16", "fma"}, "ghz": 3.7, "cores": 2}
    peak, how = flops.cpu_dense_peak("bf16", cpu)
    assert peak == pytest.approx(2 * 64 * 3.7) and "2 cores x 64 FLOP/cycle" in how and "3.70 GHz" in how
