"""What tests share besides fixtures: paths, tiny random networks saved the way training
frameworks save them. (Fixtures live in conftest.py; the real services in services.py.)"""

from __future__ import annotations

from pathlib import Path

import torch

import upscaler.compat  # noqa: F401  (basicsr's torchvision import, before anything builds a network)
from tests.textures import texture  # noqa: F401  (re-exported: most tests want both)
from upscaler.zoo.archs import ArchSpec, build

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"

TINY_SRVGG = ArchSpec("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2,
                                          "upscale": 4, "act_type": "prelu"}, 4)
TINY_RRDB = ArchSpec("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 8,
                                 "num_block": 2, "num_grow_ch": 4}, 4)


def random_network_file(folder: Path, spec: ArchSpec, seed: int = 0, wrap: str | None = "params_ema") -> Path:
    """A .pth of a small randomly initialised network, saved the way training frameworks do."""
    torch.manual_seed(seed)
    net = build(spec)
    for param in net.parameters():  # small weights keep outputs in range, like a trained net
        param.data.mul_(0.3)
    state = net.state_dict()
    path = folder / f"{spec.arch.lower()}-{seed}.pth"
    torch.save({wrap: state} if wrap else state, path)
    return path
