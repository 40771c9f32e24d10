"""A-ESRGAN's discriminators: attention U-Nets with spectral norm, single- and multi-scale.

Module and parameter names follow A-ESRGAN's own (``layer0`` / ``layer1``, ``conv0`` ...
``conv9``, ``gating``, ``attn_1..3`` with ``W``/``theta``/``phi``/``psi``, ``cat_1..3.convU``) so
that its released discriminator checkpoints load as they are.

The attention gates weight each skip connection by where the coarsest features (the gating
signal) see structure, and the skips are concatenated, not added, on the way up. The
multi-scale version runs one U-Net on the image and another on the image average-pooled to
half size (AvgPool 4, stride 2, pad 1), so textures are judged at two scales.

``deterministic=True`` replaces the bilinear resizes with two matrix products that compute the
same interpolation (equal to float rounding): CUDA's bilinear backward adds gradients
atomically, in an order that changes from run to run, and has no deterministic version.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2, inplace=True)


@lru_cache(maxsize=64)
def _bilinear_weights(out_size: int, in_size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(out_size, in_size) matrix of 1-D bilinear weights, half-pixel centres (align_corners=False)."""
    source = ((torch.arange(out_size, dtype=torch.float64) + 0.5) * (in_size / out_size) - 0.5).clamp(min=0)
    low = source.floor().long().clamp(max=in_size - 1)
    high = (low + 1).clamp(max=in_size - 1)
    frac = source - low
    weights = torch.zeros(out_size, in_size, dtype=torch.float64)
    rows = torch.arange(out_size)
    weights.index_put_((rows, low), 1 - frac, accumulate=True)
    weights.index_put_((rows, high), frac, accumulate=True)
    return weights.to(device, dtype)


def resize_bilinear(x: torch.Tensor, size: tuple[int, int], deterministic: bool = False) -> torch.Tensor:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)``; with ``deterministic``,
    as matrix products, whose backward pass is deterministic on CUDA too."""
    if not deterministic:
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    rows = _bilinear_weights(size[0], x.shape[-2], x.device, x.dtype)
    cols = _bilinear_weights(size[1], x.shape[-1], x.device, x.dtype)
    return torch.matmul(rows, torch.matmul(x, cols.t()))


class AttentionGate(nn.Module):
    """Weights ``x`` (a skip connection) by a sigmoid map computed from ``x`` and the gate ``g``."""

    def __init__(self, x_channels: int, g_channels: int, deterministic: bool = False) -> None:
        super().__init__()
        self.deterministic = deterministic
        self.W = nn.Sequential(nn.Conv2d(x_channels, x_channels, 1), nn.BatchNorm2d(x_channels))
        self.theta = nn.Conv2d(x_channels, x_channels, kernel_size=2, stride=2, bias=False)
        self.phi = nn.Conv2d(g_channels, x_channels, kernel_size=1, bias=True)
        self.psi = nn.Conv2d(x_channels, 1, kernel_size=1, bias=True)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        theta_x = self.theta(x)
        phi_g = resize_bilinear(self.phi(g), tuple(theta_x.shape[2:]), self.deterministic)
        attention = torch.sigmoid(self.psi(F.relu(theta_x + phi_g, inplace=True)))
        attention = resize_bilinear(attention, tuple(x.shape[2:]), self.deterministic)
        return self.W(attention.expand_as(x) * x)


class UpConcat(nn.Module):
    """Upsample the deeper features x2, convolve, and concatenate with the (gated) skip."""

    def __init__(self, dim_in: int, dim_out: int, deterministic: bool = False) -> None:
        super().__init__()
        self.deterministic = deterministic
        self.convU = spectral_norm(nn.Conv2d(dim_in, dim_out, 3, 1, 1, bias=False))

    def forward(self, skip: torch.Tensor, deep: torch.Tensor) -> torch.Tensor:
        deep = resize_bilinear(deep, (2 * deep.shape[2], 2 * deep.shape[3]), self.deterministic)
        deep = _lrelu(self.convU(deep))
        offset = deep.shape[2] - skip.shape[2]
        skip = F.pad(skip, 2 * [offset // 2, offset // 2])
        return torch.cat([skip, deep], 1)


class AttentionUNetDiscriminator(nn.Module):
    """One A-ESRGAN attention U-Net: a per-pixel realness map the size of its input."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, deterministic: bool = False) -> None:
        super().__init__()
        sn, f, det = spectral_norm, num_feat, deterministic
        self.conv0 = nn.Conv2d(num_in_ch, f, 3, 1, 1)
        self.conv1 = sn(nn.Conv2d(f, f * 2, 3, 2, 1, bias=False))
        self.conv2 = sn(nn.Conv2d(f * 2, f * 4, 3, 2, 1, bias=False))
        self.conv3 = sn(nn.Conv2d(f * 4, f * 8, 3, 2, 1, bias=False))
        self.gating = sn(nn.Conv2d(f * 8, f * 4, 1, 1, 1, bias=False))
        self.attn_1 = AttentionGate(f * 4, f * 4, det)
        self.attn_2 = AttentionGate(f * 2, f * 4, det)
        self.attn_3 = AttentionGate(f, f * 4, det)
        self.cat_1 = UpConcat(f * 8, f * 4, det)
        self.cat_2 = UpConcat(f * 4, f * 2, det)
        self.cat_3 = UpConcat(f * 2, f, det)
        self.conv4 = sn(nn.Conv2d(f * 8, f * 4, 3, 1, 1, bias=False))
        self.conv5 = sn(nn.Conv2d(f * 4, f * 2, 3, 1, 1, bias=False))
        self.conv6 = sn(nn.Conv2d(f * 2, f, 3, 1, 1, bias=False))
        self.conv7 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv8 = sn(nn.Conv2d(f, f, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(f, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = _lrelu(self.conv0(x))
        x1 = _lrelu(self.conv1(x0))
        x2 = _lrelu(self.conv2(x1))
        x3 = _lrelu(self.conv3(x2))
        gate = _lrelu(self.gating(x3))
        up = _lrelu(self.conv4(self.cat_1(self.attn_1(x2, gate), x3)))
        up = _lrelu(self.conv5(self.cat_2(self.attn_2(x1, gate), up)))
        up = _lrelu(self.conv6(self.cat_3(self.attn_3(x0, gate), up)))
        out = _lrelu(self.conv7(up))
        out = _lrelu(self.conv8(out))
        return self.conv9(out)


class MultiScaleDiscriminator(nn.Module):
    """Two attention U-Nets: ``layer1`` on the image, ``layer0`` on it pooled to half size."""

    def __init__(self, num_in_ch: int = 3, num_feat: int = 64, num_scales: int = 2,
                 deterministic: bool = False) -> None:
        super().__init__()
        self.num_scales = num_scales
        for i in range(num_scales):
            setattr(self, f"layer{i}", AttentionUNetDiscriminator(num_in_ch, num_feat, deterministic))
        self.downsample = nn.AvgPool2d(4, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outputs = []
        for i in range(self.num_scales):
            outputs.append(getattr(self, f"layer{self.num_scales - 1 - i}")(x))
            if i != self.num_scales - 1:
                x = self.downsample(x)
        return outputs


class SingleScaleDiscriminator(AttentionUNetDiscriminator):
    """A-ESRGAN-Single: one attention U-Net; returns a one-element list like the multi-scale one."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:  # type: ignore[override]
        return [super().forward(x)]


def build_discriminator(kind: str, num_feat: int = 64, deterministic: bool = False) -> nn.Module:
    """``kind`` "multi" or "single"; ``num_feat``: base width (A-ESRGAN: 64); ``deterministic``:
    resizes whose backward pass is deterministic on CUDA (see the module docstring)."""
    if kind == "multi":
        return MultiScaleDiscriminator(3, num_feat, deterministic=deterministic)
    if kind == "single":
        return SingleScaleDiscriminator(3, num_feat, deterministic)
    raise ValueError(f"discriminator {kind!r}: choose multi or single")
