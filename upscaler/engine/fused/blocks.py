"""basicsr's dense blocks rebuilt on the fused convolution (conv.py), and the swap into a network.

A :class:`FusedDenseBlock` computes ``ResidualDenseBlock.forward`` with five kernel launches and
no other work: conv1..conv4 write their 32 growth channels side by side into one NHWC buffer
(B, H, W, 4 * growth), which the later convolutions read in place next to the block's input,
and conv5 adds the residual itself. Eager PyTorch runs 5 convolutions, 4 concatenations (copies
that re-read and re-write every earlier feature), 4 LeakyReLUs and 2 element-wise ops per block;
here every feature is written once, by the kernel that computes it. :class:`FusedRRDB` runs three
such blocks sharing one growth buffer, the last one also applying the RRDB's own ``* 0.2 + x``.
"""

from __future__ import annotations

import torch
from basicsr.archs.rrdbnet_arch import RRDB, ResidualDenseBlock
from torch import nn

import upscaler.compat  # noqa: F401  (before basicsr)
from upscaler.engine.fused.conv import conv3x3

# basicsr's forward hard-codes both residual scalings ("empirically, we use 0.2").
RESIDUAL_SCALE = 0.2


def _taps(conv: nn.Conv2d) -> torch.Tensor:
    """(C_out, C_in, 3, 3) -> (9, C_in, C_out): each tap's weights as the GEMM's right operand."""
    if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1) or conv.groups != 1:
        raise ValueError(f"only 3x3, stride 1, padding 1 convolutions are fused, not {conv}")
    weight = conv.weight.detach()
    return weight.permute(2, 3, 1, 0).reshape(9, weight.shape[1], weight.shape[0]).contiguous()


class FusedDenseBlock(nn.Module):
    """The same function as the ``ResidualDenseBlock`` it is made from, on fused kernels.

    Its weights are copied (as buffers, so ``.to(device, dtype)`` moves them like parameters);
    the biases stay float32 (they are added to the float32 accumulator)."""

    def __init__(self, block: ResidualDenseBlock) -> None:
        super().__init__()
        convs = [block.conv1, block.conv2, block.conv3, block.conv4, block.conv5]
        self.num_feat, self.growth = block.conv1.in_channels, block.conv1.out_channels
        self.slope = float(block.lrelu.negative_slope)
        for i, conv in enumerate(convs, 1):
            if conv.bias is None:
                raise ValueError("a dense block without biases is not what basicsr builds")
            self.register_buffer(f"w{i}", _taps(conv))
            self.register_buffer(f"b{i}", conv.bias.detach().float().clone())

    def growth_buffer(self, x: torch.Tensor) -> torch.Tensor:
        """An NHWC buffer for conv1..conv4's outputs, viewed as NCHW (B, 4 * growth, H, W)."""
        batch, _, height, width = x.shape
        return torch.empty(batch, height, width, 4 * self.growth, dtype=x.dtype,
                           device=x.device).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None,
                growth: torch.Tensor | None = None) -> torch.Tensor:
        """``x5 * 0.2 + x``; with ``skip``: ``(x5 * 0.2 + x) * 0.2 + skip`` (an RRDB's last block).
        ``growth``: a buffer from :meth:`growth_buffer` to reuse."""
        if x.dtype != self.w1.dtype:
            raise TypeError(f"input is {x.dtype}, the block's weights {self.w1.dtype}")
        growth = self.growth_buffer(x) if growth is None else growth
        gc = self.growth
        for i in range(4):
            conv3x3(x, growth, i * gc, getattr(self, f"w{i + 1}"), getattr(self, f"b{i + 1}"),
                    growth[:, i * gc:(i + 1) * gc], slope=self.slope)
        batch, channels, height, width = x.shape
        out = torch.empty(batch, height, width, channels, dtype=x.dtype, device=x.device).permute(0, 3, 1, 2)
        return conv3x3(x, growth, 4 * gc, self.w5, self.b5, out, residual=x, skip=skip, scale=RESIDUAL_SCALE)


class FusedRRDB(nn.Module):
    """basicsr's ``RRDB`` (three dense blocks, then ``* 0.2 + x``) on fused kernels."""

    def __init__(self, block: RRDB) -> None:
        super().__init__()
        self.rdb1, self.rdb2, self.rdb3 = (FusedDenseBlock(b) for b in (block.rdb1, block.rdb2, block.rdb3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        growth = self.rdb1.growth_buffer(x)  # the three blocks run one after another: one buffer
        out = self.rdb1(x, growth=growth)
        out = self.rdb2(out, growth=growth)
        return self.rdb3(out, skip=x, growth=growth)


def fuse_dense_blocks(module: nn.Module) -> nn.Module:
    """Swap every basicsr ``RRDB`` in ``module`` (and any ``ResidualDenseBlock`` outside one) for its
    fused twin, in place, and return ``module``. The fused blocks run on CUDA tensors (or under
    TRITON_INTERPRET=1); build them after the module is on its device in its dtype, or move it
    after, as with any module."""
    if isinstance(module, RRDB):
        return FusedRRDB(module)
    if isinstance(module, ResidualDenseBlock):
        return FusedDenseBlock(module)
    for name, child in list(module.named_children()):
        fused = fuse_dense_blocks(child)
        if fused is not child:
            setattr(module, name, fused)
    return module
