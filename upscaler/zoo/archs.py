"""The architectures we can run, each detected from a state dict's keys and tensor shapes.

Every adapter reads its hyperparameters off the weights (number of blocks from the highest
block index, widths from tensor shapes, scale from the input channels of pixel-unshuffle or
the output channels of pixel-shuffle), so any compatible ``.pth`` loads without a config.
Adapters are registered in :data:`ARCHITECTURES`; a state dict that none accepts raises an
error naming the keys each one looked for.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import torch
import upscaler.compat  # noqa: F401  (before basicsr)
from basicsr.archs.rrdbnet_arch import RRDBNet
from basicsr.archs.srvgg_arch import SRVGGNetCompact
from torch import nn

from upscaler.errors import ModelFormatError
from upscaler.zoo.spec import ArchSpec  # defined apart, without torch: listings read it

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    name: str
    required_keys: tuple[str, ...]
    normalize: Callable[[StateDict], StateDict]
    detect: Callable[[StateDict], ArchSpec]
    build: Callable[[ArchSpec], nn.Module]


def _max_index(state: StateDict, pattern: str) -> int:
    regex = re.compile(pattern)
    indices = [int(m.group(1)) for key in state if (m := regex.match(key))]
    return max(indices) if indices else -1


# --- RRDBNet (ESRGAN, Real-ESRGAN x4plus, RealESRNet, A-ESRGAN generators) ---------------------

_OLD_ESRGAN_NAMES = [
    (re.compile(r"^RRDB_trunk\."), "body."),
    (re.compile(r"\.RDB(\d)\."), r".rdb\1."),
    (re.compile(r"^trunk_conv\."), "conv_body."),
    (re.compile(r"^upconv1\."), "conv_up1."),
    (re.compile(r"^upconv2\."), "conv_up2."),
    (re.compile(r"^HRconv\."), "conv_hr."),
]


def _rrdb_normalize(state: StateDict) -> StateDict:
    """Accept the original ESRGAN key names (RRDB_trunk, trunk_conv, ...) as well as basicsr's."""
    if "RRDB_trunk.0.RDB1.conv1.weight" not in state:
        return state
    renamed = {}
    for key, value in state.items():
        for pattern, replacement in _OLD_ESRGAN_NAMES:
            key = pattern.sub(replacement, key)
        renamed[key] = value
    return renamed


def _rrdb_detect(state: StateDict) -> ArchSpec:
    first = state["conv_first.weight"]
    num_out_ch = state["conv_last.weight"].shape[0]
    num_feat = first.shape[0]
    unshuffle = first.shape[1] // num_out_ch  # basicsr feeds pixel-unshuffled input for x2 / x1
    scale = {1: 4, 4: 2, 16: 1}.get(unshuffle)
    if scale is None or first.shape[1] % num_out_ch:
        raise ModelFormatError(f"RRDBNet: conv_first takes {first.shape[1]} channels, expected 3, 12 or 48")
    params = {
        "num_in_ch": num_out_ch,
        "num_out_ch": num_out_ch,
        "scale": scale,
        "num_feat": num_feat,
        "num_block": _max_index(state, r"^body\.(\d+)\.") + 1,
        "num_grow_ch": state["body.0.rdb1.conv1.weight"].shape[0],
    }
    return ArchSpec("RRDBNet", params, scale, size_multiple=int(math.isqrt(unshuffle)))


def _rrdb_build(spec: ArchSpec) -> nn.Module:
    return RRDBNet(**spec.params)


# --- SRVGGNetCompact (realesr-animevideov3, realesr-general-x4v3) -----------------------------

def _srvgg_detect(state: StateDict) -> ArchSpec:
    last = _max_index(state, r"^body\.(\d+)\.weight$")
    first = state["body.0.weight"]
    num_in_ch, num_feat = first.shape[1], first.shape[0]
    if "body.1.weight" not in state:
        raise ModelFormatError(
            "SRVGGNetCompact without PReLU weights (body.1.weight): its activation cannot be told"
        )
    out_channels = state[f"body.{last}.weight"].shape[0]
    upscale = math.isqrt(out_channels // num_in_ch)
    if upscale * upscale * num_in_ch != out_channels:
        raise ModelFormatError(f"SRVGGNetCompact: last conv has {out_channels} outputs, not 3*s^2")
    params = {
        "num_in_ch": num_in_ch,
        "num_out_ch": num_in_ch,
        "num_feat": num_feat,
        "num_conv": (last - 2) // 2,
        "upscale": upscale,
        "act_type": "prelu",
    }
    return ArchSpec("SRVGGNetCompact", params, upscale)


def _srvgg_build(spec: ArchSpec) -> nn.Module:
    return SRVGGNetCompact(**spec.params)


ARCHITECTURES: tuple[Architecture, ...] = (
    Architecture(
        "RRDBNet",
        ("conv_first.weight", "body.0.rdb1.conv1.weight", "conv_body.weight", "conv_up1.weight",
         "conv_last.weight"),
        _rrdb_normalize, _rrdb_detect, _rrdb_build,
    ),
    Architecture("SRVGGNetCompact", ("body.0.weight", "body.1.weight"), lambda s: s, _srvgg_detect,
                 _srvgg_build),
)
_BY_NAME = {arch.name: arch for arch in ARCHITECTURES}
if len(_BY_NAME) != len(ARCHITECTURES):
    raise RuntimeError("duplicate architecture name in ARCHITECTURES")


def detect(state: StateDict, source: str = "state dict") -> tuple[ArchSpec, StateDict]:
    """The architecture of ``state`` and the state dict in that architecture's key names."""
    for arch in ARCHITECTURES:
        normalized = arch.normalize(state)
        if all(key in normalized for key in arch.required_keys):
            return arch.detect(normalized), normalized
    tried = "; ".join(f"{a.name} needs {', '.join(a.required_keys)}" for a in ARCHITECTURES)
    sample = ", ".join(sorted(state)[:8])
    raise ModelFormatError(f"{source}: no known architecture matches (has {sample}...; {tried})")


def build(spec: ArchSpec, state: StateDict | None = None) -> nn.Module:
    """The network for ``spec``, with ``state`` loaded strictly (every key, every shape)."""
    arch = _BY_NAME.get(spec.arch)
    if arch is None:
        raise ModelFormatError(f"unknown architecture {spec.arch!r}; known: {', '.join(_BY_NAME)}")
    net = arch.build(spec)
    if state is not None:
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelFormatError(f"{spec.arch} weights do not fit: {exc}") from exc
    return net.eval()
