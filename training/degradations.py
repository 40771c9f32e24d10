"""Real-ESRGAN's second-order degradation, from basicsr's building blocks, on any device.

Kernels are drawn per sample (:func:`sample_kernels`, on the CPU, NumPy's global RNG as in
basicsr); the degradation itself runs on whole batches on the training device
(:class:`Degrader`), like Real-ESRGAN's model does, but without its hard-coded ``.cuda()``.
All randomness comes from the global RNGs of ``random``, NumPy and torch, which checkpoints
save and restore, so a resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import upscaler.compat  # noqa: F401  (before basicsr)
from basicsr.data.degradations import (circular_lowpass_kernel, random_add_gaussian_noise_pt,
                                       random_add_poisson_noise_pt, random_mixed_kernels)
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


def sample_kernels(cfg: DegradationConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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


@dataclass
class Batch:
    lq: torch.Tensor       # N,3,h,w in 0..1
    gt: torch.Tensor       # N,3,4h,4w
    gt_usm: torch.Tensor   # gt sharpened by unsharp masking (the L1/perceptual target)


class Degrader:
    """Ground truth + kernels in, (LQ, GT, sharpened GT) training pairs out."""

    def __init__(self, cfg: DegradationConfig, device: torch.device) -> None:
        self.cfg, self.device = cfg, device
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
    def __call__(self, gt: torch.Tensor, kernel1: torch.Tensor, kernel2: torch.Tensor, sinc: torch.Tensor) -> Batch:
        c = self.cfg
        gt, kernel1, kernel2, sinc = (t.to(self.device) for t in (gt, kernel1, kernel2, sinc))
        gt_usm = self.usm(gt)
        h, w = gt.shape[2:]
        out = _filter(gt_usm, kernel1)
        out = self._resize(out, c.resize_prob, c.resize_range)
        out = self._noise(out, c.gaussian_noise_prob, c.noise_range, c.poisson_scale_range, c.gray_noise_prob)
        out = self._jpeg(out, c.jpeg_range)
        if np.random.uniform() < c.second_blur_prob:
            out = _filter(out, kernel2)
        kind = random.choices(["up", "down", "keep"], c.resize_prob2)[0]
        scale = {"up": np.random.uniform(1, c.resize_range2[1]), "down": np.random.uniform(c.resize_range2[0], 1),
                 "keep": 1.0}[kind]
        size = (max(1, int(h / SCALE * scale)), max(1, int(w / SCALE * scale)))
        out = F.interpolate(out, size=size, mode=random.choice(["area", "bilinear", "bicubic"]))
        out = self._noise(out, c.gaussian_noise_prob2, c.noise_range2, c.poisson_scale_range2, c.gray_noise_prob2)
        final = (h // SCALE, w // SCALE)
        if np.random.uniform() < 0.5:  # resize + sinc, then JPEG; or the other way round
            out = F.interpolate(out, size=final, mode=random.choice(["area", "bilinear", "bicubic"]))
            out = self._jpeg(_filter(out, sinc), c.jpeg_range2)
        else:
            out = self._jpeg(out, c.jpeg_range2)
            out = _filter(F.interpolate(out, size=final, mode=random.choice(["area", "bilinear", "bicubic"])), sinc)
        lq = torch.clamp((out * 255.0).round(), 0, 255) / 255.0
        return Batch(lq.contiguous(), gt, gt_usm)


class PairPool:
    """Real-ESRGAN's training-pair pool: mixes pairs across batches for more diversity.

    Its content is part of the training state (saved in checkpoints) so resumption is exact.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.lq: torch.Tensor | None = None
        self.gt: torch.Tensor | None = None
        self.gt_usm: torch.Tensor | None = None
        self.filled = 0

    def exchange(self, batch: Batch) -> Batch:
        if self.size == 0:
            return batch
        n = batch.lq.size(0)
        if self.lq is None:
            self.lq = batch.lq.new_zeros((self.size, *batch.lq.shape[1:]))
            self.gt = batch.gt.new_zeros((self.size, *batch.gt.shape[1:]))
            self.gt_usm = batch.gt.new_zeros((self.size, *batch.gt.shape[1:]))
        if self.filled < self.size:  # still filling: store and train on the batch as is
            sl = slice(self.filled, self.filled + n)
            self.lq[sl], self.gt[sl], self.gt_usm[sl] = batch.lq, batch.gt, batch.gt_usm
            self.filled += n
            return batch
        order = torch.randperm(self.size)
        self.lq, self.gt, self.gt_usm = self.lq[order], self.gt[order], self.gt_usm[order]
        out = Batch(self.lq[:n].clone(), self.gt[:n].clone(), self.gt_usm[:n].clone())
        self.lq[:n], self.gt[:n], self.gt_usm[:n] = batch.lq, batch.gt, batch.gt_usm
        return out

    def state_dict(self) -> dict:
        return {"lq": self.lq, "gt": self.gt, "gt_usm": self.gt_usm, "filled": self.filled}

    def load_state_dict(self, state: dict) -> None:
        self.lq, self.gt, self.gt_usm, self.filled = state["lq"], state["gt"], state["gt_usm"], state["filled"]
