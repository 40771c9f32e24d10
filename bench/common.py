"""Helpers shared by the benchmark scripts: machine description and RESULTS.md sections."""

from __future__ import annotations

import platform
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# The CPU features that decide the engine's speed on a CPU (bench/RESULTS.md, "the engine ratio
# moves with the host"): native bf16 arithmetic, and AMX tiles, which oneDNN uses for bf16
# convolutions (about 10x fp32 where present).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def bf16_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The BF16_FLAGS the CPU has, for the machine line ("no native bf16" where none)."""
    try:
        flags = set(re.search(r"^flags\s*:(.*)$", cpuinfo.read_text(), re.M).group(1).split())
    except (OSError, AttributeError):
        return "bf16 support unknown"
    present = [flag for flag in BF16_FLAGS if flag in flags]
    return ", ".join(present) if present else "no native bf16"


def machine_description() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = re.search(r"Model name:\s*(.+)", lscpu)
        cpu = model.group(1).strip() if model else cpu
    except (OSError, subprocess.CalledProcessError):
        pass
    parts = [f"{cpu}, {torch.get_num_threads()} threads ({torch.backends.cpu.get_cpu_capability()}, {bf16_features()})"]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        parts.append(f"{props.name} ({props.total_memory / 2**30:.0f} GiB)")
    parts.append(f"torch {torch.__version__}, Python {platform.python_version()}")
    return "; ".join(parts)


def write_section(title: str, body: str) -> None:
    """Replace (or append) the section headed ``## title`` in bench/RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n\nWritten by the scripts in bench/; each section is replaced when its script runs again.\n"
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    section = f"## {title}\n\n_Measured {stamp} on {machine_description()}._\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + section
    RESULTS.write_text(text.rstrip() + "\n")


def photo_like(size: int):
    """A size x size BGR image with photographic texture (the gravel sample, enlarged, light noise)."""
    import cv2
    import numpy as np

    sample = cv2.imread(str(Path(__file__).resolve().parent.parent / "samples" / "gravel.png"), cv2.IMREAD_COLOR)
    big = cv2.resize(sample, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    noise = np.random.default_rng(0).integers(-3, 4, big.shape, dtype=np.int16)
    return np.clip(big + noise, 0, 255).astype(np.uint8)
