"""The ncnn -> PyTorch converter: every byte consumed, every tensor on the right key and shape."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support import TINY_RRDB, TINY_SRVGG
from upscaler.errors import ModelFormatError
from upscaler.zoo.archs import ArchSpec, build
from upscaler.zoo.convert import convert_ncnn
from upscaler.zoo.ncnn import TAG_FP16, load_ncnn, parse_param
from upscaler.zoo.registry import BUILTIN_MODELS, builtin_ncnn_files


def write_ncnn(folder: Path, spec: ArchSpec, seed: int = 0, fp32_layers: frozenset[int] = frozenset()):
    """Export a randomly initialised network in ncnn's layout (the inverse of the converter).

    Returns the paths and the state dict as it should come back (weights rounded to fp16
    except for the convolutions listed in ``fp32_layers``, stored with ncnn's fp32 tag 0).
    """
    torch.manual_seed(seed)
    state = build(spec).state_dict()
    layers, blobs, expected = ["Input input 0 1 data"], bytearray(), {}
    conv_index = 0
    for key, tensor in state.items():
        name = key.rsplit(".", 1)[0]
        if key.endswith(".bias"):
            continue
        if tensor.ndim == 4:
            out_ch, _, k, _ = tensor.shape
            layers.append(f"Convolution conv{conv_index} 1 1 a b 0={out_ch} 1={k} 4=1 5=1 6={tensor.numel()}")
            if conv_index in fp32_layers:
                blobs += struct.pack("<I", 0) + tensor.numpy().astype("<f4").tobytes()
                expected[key] = tensor.clone()
            else:
                half = tensor.numpy().astype("<f2")
                blobs += struct.pack("<I", TAG_FP16) + half.tobytes() + b"\0" * ((-half.nbytes) % 4)
                expected[key] = torch.from_numpy(half.astype(np.float32))
            bias = state[f"{name}.bias"]
            blobs += bias.numpy().astype("<f4").tobytes()
            expected[f"{name}.bias"] = bias.clone()
            conv_index += 1
        else:  # PReLU slopes
            layers.append(f"PReLU prelu{conv_index} 1 1 a b 0={tensor.numel()}")
            blobs += tensor.numpy().astype("<f4").tobytes()
            expected[key] = tensor.clone()
    if spec.arch == "RRDBNet":
        layers += ["Concat cat 2 1 a b c", "Interp up1 1 1 a b 0=1 1=2.0 2=2.0", "Interp up2 1 1 a b 0=1 1=2.0 2=2.0"]
    else:
        s = spec.scale
        layers += [f"PixelShuffle ps 1 1 a b 0={s}", f"Interp up 1 1 a b 0=1 1={s}.0 2={s}.0", "BinaryOp add 2 1 a b c"]
    param = folder / "model.param"
    param.write_text(f"7767517\n{len(layers)} {len(layers) + 1}\n" + "\n".join(layers) + "\n")
    weights = folder / "model.bin"
    weights.write_bytes(bytes(blobs))
    return param, weights, expected


@pytest.mark.parametrize("spec", [TINY_SRVGG, TINY_RRDB], ids=lambda s: s.arch)
def test_round_trip_through_ncnn_layout(tmp_path: Path, spec: ArchSpec) -> None:
    param, weights, expected = write_ncnn(tmp_path, spec, fp32_layers=frozenset({1}))
    converted_spec, state = convert_ncnn(param, weights)
    assert converted_spec == spec
    assert list(state) == list(expected)
    for key in expected:
        torch.testing.assert_close(state[key], expected[key], rtol=0, atol=0)


def test_trailing_bytes_are_an_error(tmp_path: Path) -> None:
    param, weights, _ = write_ncnn(tmp_path, TINY_SRVGG)
    weights.write_bytes(weights.read_bytes() + b"\0\0\0\0")
    with pytest.raises(ModelFormatError, match="4 bytes left"):
        convert_ncnn(param, weights)


def test_truncated_bin_is_an_error(tmp_path: Path) -> None:
    param, weights, _ = write_ncnn(tmp_path, TINY_SRVGG)
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ModelFormatError, match="file ends"):
        convert_ncnn(param, weights)


def test_unknown_storage_tag_is_an_error(tmp_path: Path) -> None:
    param, weights, _ = write_ncnn(tmp_path, TINY_SRVGG)
    data = bytearray(weights.read_bytes())
    data[0:4] = struct.pack("<I", 0x000D4B38)  # ncnn's int8 tag: not something we read
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="unsupported storage tag"):
        convert_ncnn(param, weights)


def test_bad_magic_and_layer_count() -> None:
    with pytest.raises(ModelFormatError, match="magic"):
        parse_param("123\n1 1\nInput a 0 1 b\n")
    with pytest.raises(ModelFormatError, match="header says 2 layers"):
        parse_param("7767517\n2 1\nInput a 0 1 b\n")


def test_array_parameters_are_parsed() -> None:
    (layer,) = parse_param("7767517\n1 2\nConvolution c 1 1 a b 0=32 9=2 -23310=1,2.000000e-01\n")
    assert layer.params[0] == 32 and layer.params[10] == [0.2]


@pytest.mark.parametrize("name,arch,count", [("realesrgan-x4plus", "RRDBNet", 702),
                                             ("realsr-df2k-x4", "RRDBNet", 702),
                                             ("realesr-animevideov3", "SRVGGNetCompact", 53)])
def test_builtin_files_convert_completely(name: str, arch: str, count: int) -> None:
    param, weights = builtin_ncnn_files(name)
    layers = load_ncnn(param, weights)  # raises unless the .bin is consumed to the last byte
    convs = [layer for layer in layers if layer.type == "Convolution"]
    spec, state = convert_ncnn(param, weights)
    assert spec.arch == arch and spec.scale == 4 and len(state) == count
    expected = build(spec).state_dict()
    assert {k: tuple(v.shape) for k, v in state.items()} == {k: tuple(v.shape) for k, v in expected.items()}
    # The first ncnn convolution is the first network conv, the last is the last, bit for bit.
    first_key = next(iter(state))
    last_weight_key = [k for k in state if k.endswith("weight")][-1]
    assert torch.equal(state[first_key], convs[0].blobs[0][1])
    assert torch.equal(state[last_weight_key], convs[-1].blobs[0][1])
    if arch == "RRDBNet":
        assert spec.params["num_block"] == 23 and spec.params["num_feat"] == 64
    else:
        assert spec.params["num_conv"] == 16
    assert set(BUILTIN_MODELS) >= {name}


def test_x4_graph_with_extra_resize_is_refused() -> None:
    # The package's "UP2X" export is the x4 net followed by a downscale; converting it as a
    # plain x4 model would silently change its output.
    param, weights = builtin_ncnn_files("realesr-animevideov3")
    up2 = param.with_name("REALESRGAN_ANIMAVIDEOV3_UP2X.param")
    with pytest.raises(ModelFormatError, match="only plain"):
        convert_ncnn(up2, up2.with_suffix(".bin"))


def test_realsr_and_x4plus_share_the_layout_not_the_weights() -> None:
    """RealSR DF2K ships as the same RRDBNet graph (23 blocks, nearest-neighbour x2 twice): the
    converter reads it unchanged, and the weights really are another network's."""
    realsr_spec, realsr = convert_ncnn(*builtin_ncnn_files("realsr-df2k-x4"))
    x4plus_spec, x4plus = convert_ncnn(*builtin_ncnn_files("realesrgan-x4plus"))
    assert realsr_spec == x4plus_spec
    assert not torch.equal(realsr["conv_first.weight"], x4plus["conv_first.weight"])
    layers = parse_param(builtin_ncnn_files("realsr-df2k-x4")[0].read_text())
    resizes = [layer for layer in layers if layer.type == "Interp"]
    assert [(r.params[0], r.params[1], r.params[2]) for r in resizes] == [(1, 2.0, 2.0)] * 2  # nearest, x2
