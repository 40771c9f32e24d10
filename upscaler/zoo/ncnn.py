"""Read ncnn ``.param`` + ``.bin`` model files into PyTorch tensors.

Only what the Real-ESRGAN and RealSR ncnn exports use is supported: Convolution (fp16 or fp32 weights,
float32 bias) and PReLU (float32 slopes); every other layer type carries no weights. The
reader is strict: an unknown weight-carrying layer, a bad storage tag, a short read or bytes
left over at the end of the ``.bin`` are errors, so a damaged file never yields a half-loaded
model.

Layout of the ``.bin`` (ncnn's ModelBinFromDataReader): for each layer in ``.param`` order,
its blobs back to back. A Convolution weight blob starts with a 4-byte tag (0x01306B47:
float16 values follow, 0: float32 values follow) and is padded to a multiple of 4 bytes; its
bias (when ``bias_term`` = 1) is ``num_output`` raw float32 values with no tag. PReLU slopes
are ``num_slope`` raw float32 values with no tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from upscaler.errors import ModelFormatError

NCNN_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_FP32 = 0x00000000


@dataclass
class NcnnLayer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict[int, object]
    # Weight tensors in file order: ("weight", tensor), ("bias", tensor)
    blobs: list[tuple[str, torch.Tensor]] = field(default_factory=list)

    def int_param(self, key: int, default: int | None = None) -> int:
        value = self.params.get(key, default)
        if value is None:
            raise ModelFormatError(f"layer {self.name}: parameter {key} is missing")
        return int(value)  # type: ignore[arg-type]


def _parse_value(raw: str) -> object:
    return float(raw) if any(c in raw for c in ".eE") else int(raw)


def parse_param(text: str, source: str = "<param>") -> list[NcnnLayer]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    if not lines or lines[0] != [str(NCNN_MAGIC)]:
        raise ModelFormatError(f"{source}: not an ncnn param file (magic {NCNN_MAGIC} missing)")
    layer_count = int(lines[1][0])
    layers = []
    for fields in lines[2:]:
        layer_type, name, n_bottom, n_top = fields[0], fields[1], int(fields[2]), int(fields[3])
        bottoms = fields[4 : 4 + n_bottom]
        tops = fields[4 + n_bottom : 4 + n_bottom + n_top]
        params: dict[int, object] = {}
        for item in fields[4 + n_bottom + n_top :]:
            key_text, value_text = item.split("=", 1)
            key = int(key_text)
            if key <= -23300:  # array parameter: "-233xx=count,v1,v2,..."
                values = value_text.split(",")
                params[-key - 23300] = [_parse_value(v) for v in values[1:]]
            else:
                params[key] = _parse_value(value_text)
        layers.append(NcnnLayer(layer_type, name, bottoms, tops, params))
    if len(layers) != layer_count:
        raise ModelFormatError(f"{source}: header says {layer_count} layers, found {len(layers)}")
    return layers


class _Reader:
    def __init__(self, data: bytes, source: str) -> None:
        self.data, self.pos, self.source = data, 0, source

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelFormatError(
                f"{self.source}: file ends at byte {len(self.data)} while reading {what} "
                f"({n} bytes from offset {self.pos})"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def float32(self, count: int, what: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * count, what), dtype="<f4").copy()

    def tagged(self, count: int, what: str) -> np.ndarray:
        (tag,) = struct.unpack("<I", self.take(4, f"{what} tag"))
        if tag == TAG_FP16:
            nbytes = 2 * count
            values = np.frombuffer(self.take(nbytes, what), dtype="<f2").astype(np.float32)
            self.take((-nbytes) % 4, f"{what} alignment")
            return values
        if tag == TAG_FP32:
            return self.float32(count, what)
        raise ModelFormatError(f"{self.source}: {what} has unsupported storage tag {tag:#010x}")


def _read_convolution(layer: NcnnLayer, reader: _Reader) -> None:
    out_ch = layer.int_param(0)
    kernel_w = layer.int_param(1)
    kernel_h = layer.int_param(11, kernel_w)
    size = layer.int_param(6)
    if size % (out_ch * kernel_w * kernel_h):
        raise ModelFormatError(f"{reader.source}: {layer.name}: weight size {size} does not divide")
    in_ch = size // (out_ch * kernel_w * kernel_h)
    weight = reader.tagged(size, f"{layer.name} weight").reshape(out_ch, in_ch, kernel_h, kernel_w)
    layer.blobs.append(("weight", torch.from_numpy(weight)))
    if layer.int_param(5, 0):
        layer.blobs.append(("bias", torch.from_numpy(reader.float32(out_ch, f"{layer.name} bias"))))


def _read_prelu(layer: NcnnLayer, reader: _Reader) -> None:
    count = layer.int_param(0, 1)
    layer.blobs.append(("weight", torch.from_numpy(reader.float32(count, f"{layer.name} slope"))))


_WEIGHT_READERS = {"Convolution": _read_convolution, "PReLU": _read_prelu}
_WEIGHTLESS = {"Input", "Split", "Concat", "Eltwise", "BinaryOp", "Interp", "PixelShuffle"}


def load_ncnn(param_path: Path, bin_path: Path) -> list[NcnnLayer]:
    """All layers of the model, with their weights read; fails unless every byte is consumed."""
    layers = parse_param(param_path.read_text(), str(param_path))
    reader = _Reader(bin_path.read_bytes(), str(bin_path))
    for layer in layers:
        read = _WEIGHT_READERS.get(layer.type)
        if read is not None:
            read(layer, reader)
        elif layer.type not in _WEIGHTLESS:
            raise ModelFormatError(f"{param_path}: layer type {layer.type} ({layer.name}) is not supported")
    if reader.pos != len(reader.data):
        raise ModelFormatError(
            f"{bin_path}: {len(reader.data) - reader.pos} bytes left after the last layer"
        )
    return layers


def ordered_tensors(layers: list[NcnnLayer]) -> list[tuple[str, str, torch.Tensor]]:
    """(layer name, blob kind, tensor) for every weight in file order."""
    return [(layer.name, kind, tensor) for layer in layers for kind, tensor in layer.blobs]
