"""Architecture detection from state dicts, and the safe-loading boundary."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from tests.support import TINY_RRDB, TINY_SRVGG, random_network_file
from upscaler.errors import ModelFormatError
from upscaler.zoo.archs import ArchSpec, build, detect
from upscaler.zoo.checkpoint import load_state_dict, unwrap

RRDB_VARIANTS = [
    ArchSpec("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": scale, "num_feat": feat,
                         "num_block": blocks, "num_grow_ch": grow}, scale, size_multiple=4 // scale if scale < 4 else 1)
    for scale, feat, blocks, grow in [(4, 8, 2, 4), (2, 16, 3, 8), (1, 8, 1, 4), (4, 12, 5, 6)]
]
SRVGG_VARIANTS = [
    ArchSpec("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": feat, "num_conv": convs,
                                 "upscale": scale, "act_type": "prelu"}, scale)
    for feat, convs, scale in [(8, 2, 4), (16, 5, 2), (4, 1, 3)]
]


@pytest.mark.parametrize("spec", RRDB_VARIANTS + SRVGG_VARIANTS, ids=str)
def test_detect_round_trip(spec: ArchSpec) -> None:
    state = build(spec).state_dict()
    detected, normalized = detect(state)
    assert detected == spec
    rebuilt = build(detected, normalized)
    x = torch.rand(1, 3, 8, 8)
    with torch.inference_mode():
        assert rebuilt(x).shape == (1, 3, 8 * spec.scale, 8 * spec.scale)


def test_original_esrgan_key_names_are_accepted() -> None:
    state = build(TINY_RRDB).state_dict()
    renames = {"conv_body": "trunk_conv", "body.": "RRDB_trunk.", ".rdb": ".RDB", "conv_up1": "upconv1",
               "conv_up2": "upconv2", "conv_hr": "HRconv"}
    old = {}
    for key, value in state.items():
        for new, legacy in renames.items():
            key = key.replace(new, legacy)
        old[key] = value
    assert "RRDB_trunk.0.RDB1.conv1.weight" in old
    spec, normalized = detect(old)
    assert spec == TINY_RRDB and set(normalized) == set(state)


def test_unknown_state_dict_names_the_keys_it_looked_for() -> None:
    with pytest.raises(ModelFormatError) as info:
        detect({"encoder.weight": torch.zeros(1), "decoder.bias": torch.zeros(1)}, "mystery.pth")
    message = str(info.value)
    assert "mystery.pth" in message and "conv_first.weight" in message and "body.0.weight" in message
    assert "encoder.weight" in message


@pytest.mark.parametrize("wrap", ["params_ema", "params", "state_dict", None])
def test_wrappers_and_module_prefix_are_unwrapped(tmp_path: Path, wrap: str | None) -> None:
    path = random_network_file(tmp_path, TINY_SRVGG, wrap=wrap)
    state = load_state_dict(path)
    assert detect(state)[0] == TINY_SRVGG
    prefixed = {f"module.{k}": v for k, v in state.items()}
    assert set(unwrap({"params": prefixed}, "x")) == set(state)


def test_params_ema_is_preferred_over_params() -> None:
    ema, raw = {"w": torch.ones(1)}, {"w": torch.zeros(1)}
    assert unwrap({"params": raw, "params_ema": ema}, "x")["w"].item() == 1.0


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"params": {"w": Exploit()}}, handle)
    with pytest.raises(ModelFormatError, match="not a plain weights file"):
        load_state_dict(path)


def test_non_tensor_entries_are_refused() -> None:
    with pytest.raises(ModelFormatError, match="not a tensor"):
        unwrap({"params": {"w": [1, 2, 3]}}, "list.pth")


def test_weights_that_do_not_fit_are_refused() -> None:
    state = build(TINY_SRVGG).state_dict()
    state["body.2.weight"] = torch.zeros(8, 8, 5, 5)
    with pytest.raises(ModelFormatError, match="do not fit"):
        build(TINY_SRVGG, state)
