"""One 3x3 convolution (stride 1, zero padding 1) of a dense block, as a Triton implicit GEMM.

Its input channels come from two tensors read in place, ``a`` then ``g``: the block's input and
the growth buffer that holds the earlier convolutions' outputs side by side. That is the dense
concatenation without ever writing it. The bias, the LeakyReLU and the block's residual sums
(``y * scale + residual``, then optionally ``* scale + skip`` for the RRDB around it) are applied
to the fp32 accumulator before the one store, so each activation is written once and read back
only by the convolutions that need it.

Each program computes a tile of BLOCK_M output pixels (consecutive in B*H*W order) by BLOCK_N
output channels: for each of the 9 taps it loads the shifted input pixels (zero outside the
image) a BLOCK_K-channel chunk at a time and multiplies them with that tap's weights on the
tensor cores, accumulating in fp32. Tensors are addressed through their strides, so any memory
format works; channels_last (the engine's) makes every load a contiguous run of channels.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton import knobs

# Read when this module is imported, as ``triton.jit`` reads it: TRITON_INTERPRET=1 runs the
# kernel on the CPU with NumPy (how the tests run it), otherwise it needs a CUDA device.
INTERPRETED = bool(knobs.runtime.interpret)


@triton.jit
def _conv3x3(
    a_ptr, a_sb, a_sc, a_sh, a_sw, CIN_A,
    g_ptr, g_sb, g_sc, g_sh, g_sw, CIN_G,
    w_ptr, bias_ptr,
    out_ptr, o_sb, o_sc, o_sh, o_sw,
    res_ptr, r_sb, r_sc, r_sh, r_sw,
    skip_ptr, s_sb, s_sc, s_sh, s_sw,
    B, H, W, COUT, slope, scale,
    LRELU: tl.constexpr, RESIDUAL: tl.constexpr, SKIP: tl.constexpr, PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < B * H * W
    col = rows % W
    line = (rows // W) % H
    image = (rows // (W * H)).to(tl.int64)  # 64-bit offsets: a large batch passes 2**31 elements
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    col_ok = cols < COUT
    ks = tl.arange(0, BLOCK_K)
    cin = CIN_A + CIN_G
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for tap in tl.static_range(9):
        y = line + (tap // 3 - 1)
        x = col + (tap % 3 - 1)
        inside = row_ok & (y >= 0) & (y < H) & (x >= 0) & (x < W)
        a_rows = image * a_sb + y * a_sh + x * a_sw
        for k0 in range(0, CIN_A, BLOCK_K):
            k = k0 + ks
            k_ok = k < CIN_A
            a = tl.load(a_ptr + a_rows[:, None] + k[None, :] * a_sc, mask=inside[:, None] & k_ok[None, :], other=0.0)
            w = tl.load(w_ptr + (tap * cin + k)[:, None] * COUT + cols[None, :],
                        mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            acc = tl.dot(a, w, acc, input_precision=PRECISION)
        g_rows = image * g_sb + y * g_sh + x * g_sw
        for k0 in range(0, CIN_G, BLOCK_K):
            k = k0 + ks
            k_ok = k < CIN_G
            g = tl.load(g_ptr + g_rows[:, None] + k[None, :] * g_sc, mask=inside[:, None] & k_ok[None, :], other=0.0)
            w = tl.load(w_ptr + (tap * cin + CIN_A + k)[:, None] * COUT + cols[None, :],
                        mask=k_ok[:, None] & col_ok[None, :], other=0.0)
            acc = tl.dot(g, w, acc, input_precision=PRECISION)

    acc += tl.load(bias_ptr + cols, mask=col_ok, other=0.0).to(tl.float32)[None, :]
    if LRELU:
        acc = tl.where(acc >= 0, acc, acc * slope)
    ok = row_ok[:, None] & col_ok[None, :]
    if RESIDUAL:
        r = tl.load(res_ptr + (image * r_sb + line * r_sh + col * r_sw)[:, None] + cols[None, :] * r_sc, mask=ok)
        acc = acc * scale + r.to(tl.float32)
    if SKIP:
        s = tl.load(skip_ptr + (image * s_sb + line * s_sh + col * s_sw)[:, None] + cols[None, :] * s_sc, mask=ok)
        acc = acc * scale + s.to(tl.float32)
    out = out_ptr + (image * o_sb + line * o_sh + col * o_sw)[:, None] + cols[None, :] * o_sc
    tl.store(out, acc.to(out_ptr.dtype.element_ty), mask=ok)


# On CUDA the tile shape is measured once per layer shape and dtype (the first call, which the
# engine makes eagerly before any CUDA graph capture); the interpreter takes the first config.
_CONFIGS = [
    triton.Config({"BLOCK_M": m, "BLOCK_K": k}, num_warps=warps, num_stages=stages)
    for m, k, warps, stages in ((128, 32, 4, 3), (64, 32, 4, 4), (128, 64, 8, 3), (256, 32, 8, 3))
]
_tuned = None


def _kernel():
    global _tuned
    if INTERPRETED:
        return _conv3x3, _CONFIGS[0].kwargs
    if _tuned is None:
        _tuned = triton.autotune(_CONFIGS, key=["CIN_A", "CIN_G", "COUT", "LRELU", "RESIDUAL", "SKIP"])(_conv3x3)
    return _tuned, {}


def _strides(t: torch.Tensor) -> tuple[int, int, int, int]:
    """(batch, channel, row, column) strides of an NCHW-shaped tensor in any memory format."""
    return t.stride(0), t.stride(1), t.stride(2), t.stride(3)


def conv3x3(a: torch.Tensor, g: torch.Tensor | None, cin_g: int, weight: torch.Tensor, bias: torch.Tensor,
            out: torch.Tensor, slope: float | None = None, residual: torch.Tensor | None = None,
            skip: torch.Tensor | None = None, scale: float = 1.0) -> torch.Tensor:
    """``out = conv3x3(cat(a, g[:, :cin_g])) + bias``, then LeakyReLU(``slope``) if given, then
    ``* scale + residual`` and ``* scale + skip`` where given; written into ``out`` (a view may
    be a channel slice of a larger tensor) and returned.

    a, g, out, residual, skip: NCHW-shaped (B, C, H, W) tensors of one dtype, any strides;
    weight: (9, C_a + cin_g, C_out), taps in row-major order, in that dtype; bias: (C_out,).
    """
    if not INTERPRETED and a.device.type != "cuda":
        raise RuntimeError("fused dense-block kernels run on CUDA (or on the CPU with TRITON_INTERPRET=1)")
    batch, cin_a, height, width = a.shape
    cout = out.shape[1]
    if weight.shape != (9, cin_a + cin_g, cout):
        raise ValueError(f"weight shape {tuple(weight.shape)}, expected (9, {cin_a + cin_g}, {cout})")
    g = a if g is None or cin_g == 0 else g
    kernel, blocks = _kernel()
    block_n = max(16, triton.next_power_of_2(cout))

    def grid(meta):
        return triton.cdiv(batch * height * width, meta["BLOCK_M"]), triton.cdiv(cout, block_n)

    kernel[grid](
        a, *_strides(a), cin_a,
        g, *_strides(g), cin_g,
        weight, bias,
        out, *_strides(out),
        residual if residual is not None else out, *_strides(residual if residual is not None else out),
        skip if skip is not None else out, *_strides(skip if skip is not None else out),
        batch, height, width, cout, 0.0 if slope is None else float(slope), float(scale),
        LRELU=slope is not None, RESIDUAL=residual is not None, SKIP=skip is not None,
        PRECISION="ieee" if a.dtype == torch.float32 else "tf32", BLOCK_N=block_n, **blocks,
    )
    return out
