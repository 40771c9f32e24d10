"""Turn the Real-ESRGAN and RealSR ncnn exports into PyTorch state dicts.

The ncnn graph lists its weighted layers in the same order as the PyTorch modules register
their parameters (conv_first, body.*, conv_body, conv_up1, ... for RRDBNet; body.0, body.1,
... for SRVGGNetCompact). We read the hyperparameters off the graph, build the PyTorch
network, then hand out the ncnn tensors in order, checking each one's shape against the key
it lands on and that none is left over.
"""

from __future__ import annotations

from pathlib import Path

from upscaler.errors import ModelFormatError
from upscaler.zoo.archs import ArchSpec, StateDict, build
from upscaler.zoo.ncnn import NcnnLayer, load_ncnn, ordered_tensors


def _spec_from_graph(layers: list[NcnnLayer], source: str) -> ArchSpec:
    convs = [layer for layer in layers if layer.type == "Convolution"]
    types = {layer.type for layer in layers}
    if not convs:
        raise ModelFormatError(f"{source}: no convolutions")
    in_ch = convs[0].int_param(6) // (convs[0].int_param(0) * convs[0].int_param(1) ** 2)
    num_feat = convs[0].int_param(0)
    if "PixelShuffle" in types and "PReLU" in types:
        upscale = next(layer for layer in layers if layer.type == "PixelShuffle").int_param(0)
        resizes = [layer for layer in layers if layer.type == "Interp"]
        if len(resizes) != 1 or resizes[0].params.get(1) != float(upscale):
            # e.g. the "UP2X" exports: the x4 net followed by a downscale we would silently drop
            raise ModelFormatError(f"{source}: only plain x{upscale} SRVGG graphs are supported")
        params = {"num_in_ch": in_ch, "num_out_ch": in_ch, "num_feat": num_feat,
                  "num_conv": len(convs) - 2, "upscale": upscale, "act_type": "prelu"}
        return ArchSpec("SRVGGNetCompact", params, upscale)
    if "Concat" in types:
        if (len(convs) - 6) % 15:
            raise ModelFormatError(f"{source}: {len(convs)} convolutions do not make an RRDBNet")
        upsamples = sum(1 for layer in layers if layer.type == "Interp")
        if upsamples != 2 or in_ch != 3:
            raise ModelFormatError(f"{source}: only x4 RRDBNet graphs are supported")
        params = {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": num_feat,
                  "num_block": (len(convs) - 6) // 15, "num_grow_ch": convs[1].int_param(0)}
        return ArchSpec("RRDBNet", params, 4)
    raise ModelFormatError(f"{source}: graph matches neither RRDBNet nor SRVGGNetCompact")


def convert_ncnn(param_path: Path, bin_path: Path) -> tuple[ArchSpec, StateDict]:
    layers = load_ncnn(param_path, bin_path)
    spec = _spec_from_graph(layers, str(param_path))
    expected = build(spec).state_dict()
    tensors = ordered_tensors(layers)
    if len(tensors) != len(expected):
        raise ModelFormatError(
            f"{param_path}: {len(tensors)} weight tensors for {len(expected)} {spec.arch} parameters"
        )
    state: StateDict = {}
    for (key, target), (layer_name, kind, tensor) in zip(expected.items(), tensors):
        if not key.endswith(kind) or tuple(target.shape) != tuple(tensor.shape):
            raise ModelFormatError(
                f"{param_path}: {layer_name} {kind} {tuple(tensor.shape)} does not fit {key} "
                f"{tuple(target.shape)}"
            )
        state[key] = tensor.contiguous()
    return spec, state
