"""Fused Triton kernels for RRDBNet's dense blocks (opt-in: ``UPSCALER_FUSED_KERNELS``).

Eager RRDBNet spends much of its GPU time outside the convolutions: the dense blocks'
concatenations, LeakyReLUs and residual sums each read and write whole feature maps. Here each
of a block's five convolutions is one kernel that reads its inputs in place (no concatenation),
and applies bias, activation and residuals before its single store (conv.py, blocks.py).
Imported only where used: importing it imports Triton.
"""

from upscaler.engine.fused.blocks import FusedDenseBlock, FusedRRDB, fuse_dense_blocks

__all__ = ["FusedDenseBlock", "FusedRRDB", "fuse_dense_blocks"]
