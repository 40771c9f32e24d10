"""The benchmarks' machine line names the CPU features the engine's speed depends on (bench/common.py)."""

import pytest

from bench.common import bf16_features, machine_description

CPUINFO = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 {extra}\n\nprocessor\t: 1\nflags\t\t: fpu\n"


@pytest.mark.parametrize("extra, expected", [
    ("avx512f avx512_bf16 amx_tile amx_bf16 amx_int8", "avx512_bf16, amx_bf16"),
    ("avx512f avx512_bf16", "avx512_bf16"),
    ("", "no native bf16"),
    ("avx512_bf16x", "no native bf16"),  # whole flags only
])
def test_bf16_features_reads_the_first_cpus_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert bf16_features(cpuinfo) == expected


def test_unreadable_or_flagless_cpuinfo_says_unknown(tmp_path):
    assert bf16_features(tmp_path / "missing") == "bf16 support unknown"
    (tmp_path / "odd").write_text("processor\t: 0\n")
    assert bf16_features(tmp_path / "odd") == "bf16 support unknown"


def test_machine_line_carries_them():
    assert bf16_features() in machine_description()
