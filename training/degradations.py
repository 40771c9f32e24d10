"""The degradation presets, from basicsr's building blocks, on any device.

``realesrgan``: Real-ESRGAN's second-order chain. ``supplier``: one mild pass, like a supplier's
product photo (see :class:`training.config.SupplierDegradationConfig`). Each preset is a pair
of functions, registered by name in :data:`CHAINS`: its kernels, drawn per sample
(:func:`sample_kernels`, on the CPU, NumPy's global RNG as in basicsr), and the degradation
itself, which runs on whole batches on the training device (:class:`Degrader`), like
Real-ESRGAN's model does, but without its hard-coded ``.cuda()``; the training pair is cut
from the degraded image afterwards, as there. All randomness comes from the global RNGs of
``random``, NumPy and torch, which checkpoints save and restore, so a resumed run draws exactly
what an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import upscaler.compat  # noqa: F401  (before basicsr)
from basicsr.data.degradations import (
    bivariate_Gaussian,
    circular_lowpass_kernel,
    generate_gaussian_noise_pt,
    random_add_gaussian_noise_pt,
    random_add_poisson_noise_pt,
    random_mixed_kernels,
)
from basicsr.utils import DiffJPEG, USMSharp
from basicsr.utils.img_process_util import filter2D

from training.config import DegradationConfig

SCALE = 4


def _filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """basicsr's filter2D, also for images smaller than half the kernel (tiny crops resized
    down hard), which its reflect padding cannot handle: those are edge-padded first."""
    half = kernel.size(-1) // 2
    short = half + 1 - min(x.shape[-2:])
    if short <= 0:
        return filter2D(x.contiguous(), kernel)  # it uses .view(): needs contiguous input
    padded = F.pad(x, (short, short, short, short), mode="replicate")
    return filter2D(padded.contiguous(), kernel)[..., short:-short, short:-short]


def _blur_kernel(cfg: DegradationConfig, sinc_prob: float, sigma: list[float], betag: list[float],
                 betap: list[float]) -> np.ndarray:
    size = random.choice(range(7, cfg.blur_kernel_size + 1, 2))
    if np.random.uniform() < sinc_prob:
        omega_c = np.random.uniform(np.pi / 3, np.pi) if size < 13 else np.random.uniform(np.pi / 5, np.pi)
        kernel = circular_lowpass_kernel(omega_c, size, pad_to=False)
    else:
        kernel = random_mixed_kernels(cfg.kernel_list, cfg.kernel_prob, size, sigma, sigma, [-math.pi, math.pi],
                                      betag, betap, noise_range=None)
    pad = (cfg.blur_kernel_size - size) // 2
    return np.pad(kernel, ((pad, pad), (pad, pad)))


def sample_kernels(cfg: DegradationConfig) -> tuple[torch.Tensor, ...]:
    """The kernels one training sample needs under ``cfg.preset``, for :class:`Degrader`."""
    return chain(cfg.preset).sample_kernels(cfg)


def _realesrgan_kernels(cfg: DegradationConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """First-stage blur, second-stage blur and final sinc kernel for one training sample."""
    kernel1 = _blur_kernel(cfg, cfg.sinc_prob, cfg.blur_sigma, cfg.betag_range, cfg.betap_range)
    kernel2 = _blur_kernel(cfg, cfg.sinc_prob2, cfg.blur_sigma2, cfg.betag_range2, cfg.betap_range2)
    if np.random.uniform() < cfg.final_sinc_prob:
        size = random.choice(range(7, cfg.blur_kernel_size + 1, 2))
        sinc = circular_lowpass_kernel(np.random.uniform(np.pi / 3, np.pi), size, pad_to=cfg.blur_kernel_size)
    else:  # identity
        sinc = np.zeros((cfg.blur_kernel_size, cfg.blur_kernel_size))
        sinc[cfg.blur_kernel_size // 2, cfg.blur_kernel_size // 2] = 1
    return tuple(torch.from_numpy(np.ascontiguousarray(k)).float() for k in (kernel1, kernel2, sinc))  # type: ignore[return-value]


def _supplier_kernels(cfg: DegradationConfig) -> tuple[torch.Tensor]:
    """One isotropic Gaussian (LQ pixels) for a ``blur_prob`` share of the samples, else the
    identity; all the same size (3 sigma each side of the largest sigma), so they stack."""
    s = cfg.supplier
    size = 2 * math.ceil(3 * s.blur_sigma[1]) + 1
    if np.random.uniform() < s.blur_prob:
        sigma = np.random.uniform(*s.blur_sigma)
        kernel = bivariate_Gaussian(size, sigma, sigma, 0.0, isotropic=True)
    else:
        kernel = np.zeros((size, size))
        kernel[size // 2, size // 2] = 1
    return (torch.from_numpy(np.ascontiguousarray(kernel)).float(),)


@dataclass
class Batch:
    lq: torch.Tensor       # N,3,h,w in 0..1
    gt: torch.Tensor       # N,3,4h,4w (plain, or sharpened where the caller asked for it)


def paired_random_crop(lq: torch.Tensor, gt: torch.Tensor, gt_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random window of a whole batch: ``gt_size`` px of ``gt`` and the matching
    ``gt_size / 4`` px of ``lq`` (one position per batch, anywhere in the image, as the
    references' ``paired_random_crop``). No random draw when the images are already that size."""
    lq_size = gt_size // SCALE
    h, w = lq.shape[-2:]
    if gt.shape[-2:] != (h * SCALE, w * SCALE):
        raise ValueError(f"gt {tuple(gt.shape[-2:])} is not {SCALE}x lq {(h, w)}")
    if h < lq_size or w < lq_size:
        raise ValueError(f"lq {(h, w)} is smaller than the {lq_size} px crop")
    top = random.randint(0, h - lq_size) if h > lq_size else 0
    left = random.randint(0, w - lq_size) if w > lq_size else 0
    lq = lq[..., top : top + lq_size, left : left + lq_size]
    gt = gt[..., top * SCALE : (top + lq_size) * SCALE, left * SCALE : (left + lq_size) * SCALE]
    return lq, gt


class Degrader:
    """Ground truth + kernels in, (LQ, GT) training pairs out, cut to ``crop`` px of GT.

    The whole input is degraded first and the pair is cut from the result, so the borders
    that the blur kernels pad and the resizes extrapolate stay outside most pairs. ``crop`` =
    the input's size degrades the training crop itself (no cut).
    """

    def __init__(self, cfg: DegradationConfig, device: torch.device, crop: int | None = None) -> None:
        self.cfg, self.device, self.crop = cfg, device, crop
        self.chain = chain(cfg.preset)
        self.jpeg = DiffJPEG(differentiable=False).to(device)
        self.usm = USMSharp().to(device)

    def _resize(self, x: torch.Tensor, probs: list[float], scale_range: list[float]) -> torch.Tensor:
        kind = random.choices(["up", "down", "keep"], probs)[0]
        scale = {"up": lambda: np.random.uniform(1, scale_range[1]),
                 "down": lambda: np.random.uniform(scale_range[0], 1), "keep": lambda: 1.0}[kind]()
        return F.interpolate(x, scale_factor=scale, mode=random.choice(["area", "bilinear", "bicubic"]))

    def _noise(self, x: torch.Tensor, gaussian_prob: float, sigma: list[float], poisson: list[float],
               gray_prob: float) -> torch.Tensor:
        if np.random.uniform() < gaussian_prob:
            return random_add_gaussian_noise_pt(x, sigma_range=sigma, clip=True, rounds=False, gray_prob=gray_prob)
        return random_add_poisson_noise_pt(x, scale_range=poisson, gray_prob=gray_prob, clip=True, rounds=False)

    def _jpeg(self, x: torch.Tensor, quality_range: list[float]) -> torch.Tensor:
        quality = x.new_zeros(x.size(0)).uniform_(*quality_range)
        return self.jpeg(torch.clamp(x, 0, 1), quality=quality)

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, *kernels: torch.Tensor, sharpened_gt: bool = False) -> Batch:
        """Degrade ``gt`` (N,3,H,W) with the configured preset and its per-sample ``kernels``
        (from :func:`sample_kernels`, stacked). The GT handed back is cut from ``gt`` itself,
        or with ``sharpened_gt`` from its sharpened version (Real-ESRNet's ``gt_usm: True``: its
        L1 target, sharpened before the cut)."""
        gt = gt.to(self.device)
        kernels = tuple(k.to(self.device) for k in kernels)
        h, w = gt.shape[2:]
        if h % SCALE or w % SCALE:
            raise ValueError(f"GT {h}x{w}: both sides must be multiples of {SCALE}")
        # USM costs more than the whole supplier chain at these sizes: only when it is used.
        gt_usm = self.usm(gt) if sharpened_gt or self.chain.sharpened_input else None
        out = self.chain.degrade(self, gt_usm if self.chain.sharpened_input else gt, kernels)
        if sharpened_gt:
            gt = gt_usm
        lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.0
        if self.crop is not None:
            lq, gt = paired_random_crop(lq, gt, self.crop)
        return Batch(lq.contiguous(), gt.contiguous())


def _realesrgan(d: Degrader, gt_usm: torch.Tensor, kernels: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Real-ESRGAN's second-order chain, on the sharpened GT (as both references degrade it)."""
    c = d.cfg
    kernel1, kernel2, sinc = kernels
    h, w = gt_usm.shape[2:]
    out = _filter(gt_usm, kernel1)
    out = d._resize(out, c.resize_prob, c.resize_range)
    out = d._noise(out, c.gaussian_noise_prob, c.noise_range, c.poisson_scale_range, c.gray_noise_prob)
    out = d._jpeg(out, c.jpeg_range)
    if np.random.uniform() < c.second_blur_prob:
        out = _filter(out, kernel2)
    kind = random.choices(["up", "down", "keep"], c.resize_prob2)[0]
    scale = {"up": np.random.uniform(1, c.resize_range2[1]), "down": np.random.uniform(c.resize_range2[0], 1),
             "keep": 1.0}[kind]
    size = (max(1, int(h / SCALE * scale)), max(1, int(w / SCALE * scale)))
    out = F.interpolate(out, size=size, mode=random.choice(["area", "bilinear", "bicubic"]))
    out = d._noise(out, c.gaussian_noise_prob2, c.noise_range2, c.poisson_scale_range2, c.gray_noise_prob2)
    final = (h // SCALE, w // SCALE)
    if np.random.uniform() < 0.5:  # resize + sinc, then JPEG; or the other way round
        out = F.interpolate(out, size=final, mode=random.choice(["area", "bilinear", "bicubic"]))
        out = d._jpeg(_filter(out, sinc), c.jpeg_range2)
    else:
        out = d._jpeg(out, c.jpeg_range2)
        out = _filter(F.interpolate(out, size=final, mode=random.choice(["area", "bilinear", "bicubic"])), sinc)
    return out


def _supplier(d: Degrader, gt: torch.Tensor, kernels: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """A supplier's product photo of the plain GT (no sharpening halo, which such photos lack):
    downscale x4, slight blur, a little noise, JPEG. The bilinear and bicubic reductions are
    antialiased, as image editors and shop systems reduce photos; without it a x4 reduction
    samples the weave into moire, the kind of damage this preset leaves out."""
    s = d.cfg.supplier
    (blur,) = kernels
    mode = random.choice(s.resize_modes)
    final = (gt.shape[2] // SCALE, gt.shape[3] // SCALE)
    out = F.interpolate(gt, size=final, mode=mode, antialias=mode != "area")
    out = _filter(out, blur)
    n = out.size(0)
    noisy = (torch.rand(n, device=out.device) < s.noise_prob).to(out.dtype)
    sigma = (torch.rand(n, device=out.device, dtype=out.dtype) * (s.noise_range[1] - s.noise_range[0])
             + s.noise_range[0]) * noisy
    out = torch.clamp(out + generate_gaussian_noise_pt(out, sigma, 0), 0, 1)
    return d._jpeg(out, s.jpeg_range)


@dataclass(frozen=True)
class Chain:
    """One degradation preset: its per-sample kernels, its batch degradation (GT in, LQ out,
    before the 8-bit rounding), and whether that degrades the sharpened GT or the plain one."""

    sample_kernels: Callable[[DegradationConfig], tuple[torch.Tensor, ...]]
    degrade: Callable[[Degrader, torch.Tensor, tuple[torch.Tensor, ...]], torch.Tensor]
    sharpened_input: bool


CHAINS: dict[str, Chain] = {
    "realesrgan": Chain(_realesrgan_kernels, _realesrgan, sharpened_input=True),
    "supplier": Chain(_supplier_kernels, _supplier, sharpened_input=False),
}


def chain(name: str) -> Chain:
    """The preset called ``name``; an unknown name is an error that lists the presets."""
    if name not in CHAINS:
        raise ValueError(f"unknown degradation preset {name!r}; choose {', '.join(CHAINS)}")
    return CHAINS[name]


class PairPool:
    """Real-ESRGAN's training-pair pool: mixes pairs across batches for more diversity.

    Its content is part of the training state (saved in checkpoints) so resumption is exact;
    it lives on ``device``, and a loaded state is moved there whatever device it was saved
    from. It holds (LQ, GT) pairs, as the references' pools do.
    """

    def __init__(self, size: int, device: torch.device | str = "cpu") -> None:
        self.size, self.device = size, torch.device(device)
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.filled = 0

    def exchange(self, batch: Batch) -> Batch:
        if self.size == 0:
            return batch
        n = batch.lq.size(0)
        if self.lq is None:
            self.lq = batch.lq.new_zeros((self.size, *batch.lq.shape[1:]), device=self.device)
            self.gt = batch.gt.new_zeros((self.size, *batch.gt.shape[1:]), device=self.device)
        lq, gt = batch.lq.to(self.device), batch.gt.to(self.device)
        if self.filled < self.size:  # still filling: store and train on the batch as is
            sl = slice(self.filled, self.filled + n)
            self.lq[sl], self.gt[sl] = lq, gt
            self.filled += n
            return batch
        order = torch.randperm(self.size)
        self.lq, self.gt = self.lq[order], self.gt[order]
        out = Batch(self.lq[:n].clone(), self.gt[:n].clone())
        self.lq[:n], self.gt[:n] = lq, gt
        return out

    def state_dict(self) -> dict:
        return {"lq": self.lq, "gt": self.gt, "filled": self.filled}

    def load_state_dict(self, state: dict) -> None:
        """Older checkpoints also hold the sharpened GT ("gt_usm"): not needed, ignored."""
        self.lq = None if state["lq"] is None else state["lq"].to(self.device)
        self.gt = None if state["gt"] is None else state["gt"].to(self.device)
        self.filled = state["filled"]

    def tensors(self) -> dict[str, torch.Tensor]:
        return {name: t for name, t in (("lq", self.lq), ("gt", self.gt)) if t is not None}
