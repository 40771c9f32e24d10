"""The two-stage training loop, read top to bottom: config, data, networks, optimisers, loop,
validation, checkpoints. Our own loop (basicsr's model classes hard-code ``.cuda()``), so the
same code trains on a GPU and, with a tiny config, on a laptop or in CI.

Stage ``esrnet``: L1 only. Stage ``aesrgan``: L1 + perceptual + GAN against A-ESRGAN's
discriminator (multi-scale by default). The generator's EMA (decay 0.999) is what gets
validated and exported.

One iteration is one optimiser step over ``accumulate`` micro-batches of ``batch_size``: the
references' 12 per GPU on 4 GPUs is 12 x 4 here, on one device. Each micro-batch is
degraded, pooled and back-propagated on its own (as each GPU does there), its losses scaled by
1/accumulate so the summed gradient is the mean over the whole effective batch.

Exact resume: on a CPU a resumed run's weights equal an uninterrupted run's, bit for bit. On
CUDA that holds only with ``deterministic`` (deterministic kernels, no cuDNN autotuning, and
CUBLAS_WORKSPACE_CONFIG set before CUDA's first matrix product); without it, CUDA's atomic
adds in some backward passes make even two uninterrupted runs differ in the last bits.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import upscaler.compat  # noqa: F401
from basicsr.archs.rrdbnet_arch import RRDBNet

from training.checkpoints import CheckpointStore, rng_state, set_rng_state
from training.config import TrainConfig
from training.data import CropDataset
from training.degradations import Degrader, PairPool, sample_kernels
from training.discriminators import build_discriminator
from training.losses import PerceptualLoss, gan_loss
from upscaler.evaluation.image_metrics import psnr

log = logging.getLogger(__name__)


@dataclass
class Progress:
    iteration: int
    losses: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None


# A validation output with no fine texture at all has detail ratio 0 (ln: -inf): it counts as
# this little, so that one such image drags the means down hard without making them infinite.
_DETAIL_RATIO_FLOOR = 1e-3


def texture_means(per_image: list[dict[str, float]]) -> dict[str, float]:
    """Texture fidelity over the validation pairs, from each pair's detail ratio and spectral
    distance against its ground truth (``upscaler.evaluation.image_metrics``).

    ``detail_ratio``: geometric mean (1 = as much fine texture as the truth, below = smoothed,
    above = invented), as ``upscaler compare`` averages it. ``detail_log_error``: mean |ln ratio|,
    how far each image is off in either direction (0.69 = a factor of two), which a geometric
    mean of 0.5 and 2 would hide. ``spectral_distance``: mean (0 = the truth's high-frequency
    spectrum). A pair whose truth is flat (ratio infinite) has no texture to keep: left out.
    """
    logs = [math.log(max(m["detail_ratio"], _DETAIL_RATIO_FLOOR)) for m in per_image
            if math.isfinite(m["detail_ratio"])]
    out = {}
    if per_image:
        out["spectral_distance"] = float(np.mean([m["spectral_distance"] for m in per_image]))
    if logs:
        out["detail_ratio"] = math.exp(float(np.mean(logs)))
        out["detail_log_error"] = float(np.mean(np.abs(logs)))
    return out


def generator_for(config: TrainConfig) -> RRDBNet:
    n = config.network
    return RRDBNet(3, 3, scale=4, num_feat=n.num_feat, num_block=n.num_block, num_grow_ch=n.num_grow_ch)


class Trainer:
    def __init__(self, config: TrainConfig, run_dir: Path, *, device: str = "cpu", remote_prefix: str | None = None,
                 init_generator: dict | None = None, allow_random_vgg: bool = False, storage=None) -> None:
        self.config = config.validate()
        self.device = torch.device(device)
        self.run_dir = run_dir
        if config.deterministic and self.device.type == "cuda":
            # Read when CUDA first runs a matrix product: too late if this process already has.
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.manual_seed(config.seed), np.random.seed(config.seed), random.seed(config.seed)

        # Data: held-back crops become fixed validation pairs, degraded once with their own seed.
        self.dataset = CropDataset(Path(config.data), held_back=config.validate_pairs)
        self.degrader = Degrader(config.degradation, self.device, crop=config.gt_size)
        self.pool = PairPool(config.pool_size, self.device)

        # Networks.
        self.net_g = generator_for(config).to(self.device)
        if init_generator is not None:
            self.net_g.load_state_dict(init_generator, strict=True)
        self.net_g_ema = copy.deepcopy(self.net_g).eval().requires_grad_(False)
        self.gan = config.stage == "aesrgan"
        self.net_d = (build_discriminator(config.network.disc, config.network.disc_feat, config.deterministic)
                      .to(self.device) if self.gan else None)
        self.perceptual = (PerceptualLoss(config.loss.vgg_weights, allow_random_vgg).to(self.device)
                           if config.loss.perceptual_weight > 0 else None)

        # Optimisers and schedules.
        o = config.optim
        self.optim_g = torch.optim.Adam(self.net_g.parameters(), lr=o.lr_g, betas=tuple(o.betas))
        self.sched_g = torch.optim.lr_scheduler.MultiStepLR(self.optim_g, o.milestones, o.gamma)
        if self.net_d is not None:
            self.optim_d = torch.optim.Adam(self.net_d.parameters(), lr=o.lr_d, betas=tuple(o.betas))
            self.sched_d = torch.optim.lr_scheduler.MultiStepLR(self.optim_d, o.milestones, o.gamma)

        self.store = CheckpointStore(run_dir / "checkpoints", config.keep_checkpoints, remote_prefix, storage)
        self.iteration = 0
        self.val_pairs = self._validation_pairs()
        self.tensorboard = None

    # -- validation data ---------------------------------------------------------------------
    def _validation_pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
        torch.manual_seed(10_000 + self.config.seed), np.random.seed(10_000 + self.config.seed)
        random.seed(10_000 + self.config.seed)
        pairs = []
        for name in self.dataset.val_names:
            gt = self.dataset.gt_crop(name, self.config.degrade_size, flips="none")[None]
            kernels = (k[None] for k in sample_kernels(self.config.degradation))
            batch = self.degrader(gt, *kernels)
            pairs.append((batch.lq.cpu(), batch.gt.cpu()))
        random.setstate(saved[0]), np.random.set_state(saved[1]), torch.set_rng_state(saved[2])
        return pairs

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = {"iteration": self.iteration, "config": self.config.to_json(), "net_g": self.net_g.state_dict(),
                 "net_g_ema": self.net_g_ema.state_dict(), "optim_g": self.optim_g.state_dict(),
                 "sched_g": self.sched_g.state_dict(), "pool": self.pool.state_dict(), "rng": rng_state()}
        if self.net_d is not None:
            state |= {"net_d": self.net_d.state_dict(), "optim_d": self.optim_d.state_dict(),
                      "sched_d": self.sched_d.state_dict()}
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict`, whatever device it was saved from: every tensor ends up
        on this trainer's device (networks and optimisers copy into theirs, the pool moves)."""
        self.iteration = state["iteration"]
        self.net_g.load_state_dict(state["net_g"])
        self.net_g_ema.load_state_dict(state["net_g_ema"])
        self.optim_g.load_state_dict(state["optim_g"])
        self.sched_g.load_state_dict(state["sched_g"])
        pool = dict(state["pool"])
        if "gt_usm" in pool and not self.gan:  # older checkpoints pooled both; esrnet trains on the sharpened
            pool["gt"] = pool["gt_usm"]
        self.pool.load_state_dict(pool)
        if self.net_d is not None:
            self.net_d.load_state_dict(state["net_d"])
            self.optim_d.load_state_dict(state["optim_d"])
            self.sched_d.load_state_dict(state["sched_d"])
        set_rng_state(state["rng"])

    def stateful_tensors(self) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, tensor) for every tensor the training state lives in: networks, optimiser
        moments, the pair pool, the loss's and the degradation's buffers. Adam's step counters
        are left out: torch keeps them on the CPU by design."""
        modules = {"net_g": self.net_g, "net_g_ema": self.net_g_ema, "net_d": self.net_d,
                   "perceptual": self.perceptual, "jpeg": self.degrader.jpeg, "usm": self.degrader.usm}
        for prefix, module in modules.items():
            if module is not None:
                for key, tensor in module.state_dict().items():
                    yield f"{prefix}.{key}", tensor
        optimisers = {"optim_g": self.optim_g, "optim_d": getattr(self, "optim_d", None)}
        for prefix, optim in optimisers.items():
            for index, param_state in enumerate(optim.state.values() if optim is not None else []):
                for key, value in param_state.items():
                    if isinstance(value, torch.Tensor) and key != "step":
                        yield f"{prefix}.{index}.{key}", value
        for key, tensor in self.pool.tensors().items():
            yield f"pool.{key}", tensor

    def resume(self) -> bool:
        """Continue from the newest checkpoint (local or remote), if there is one."""
        found = self.store.newest()
        if found is None:
            return False
        self.load_state_dict(found[1])
        log.info("resumed at iteration %d", self.iteration)
        return True

    # -- one iteration -------------------------------------------------------------------------
    def step(self) -> dict[str, float]:
        """One optimiser step over ``accumulate`` micro-batches; losses are their means."""
        c = self.config
        self.net_g.train()
        self.optim_g.zero_grad(set_to_none=True)
        if self.net_d is not None:
            self.optim_d.zero_grad(set_to_none=True)
        losses: dict[str, float] = {}
        with self._determinism():
            for _ in range(c.accumulate):
                for name, value in self._backward(self._next_pair()).items():
                    losses[name] = losses.get(name, 0.0) + value / c.accumulate
            # The discriminator learnt from outputs made before the generator's update, as in
            # Real-ESRGAN, where its step also follows the generator's.
            self.optim_g.step()
            if self.net_d is not None:
                self.optim_d.step()
                self.sched_d.step()
            self.sched_g.step()
            self._update_ema()
        self.iteration += 1
        return losses

    def _next_pair(self):
        """One micro-batch: crops degraded whole, cut to the training size, through the pool."""
        c = self.config
        gt, kernels = self.dataset.sample(c.batch_size, c.degrade_size, c.degradation, c.flips)
        return self.pool.exchange(self.degrader(gt, *kernels, sharpened_gt=not self.gan))

    def _backward(self, batch) -> dict[str, float]:
        """Accumulate one micro-batch's gradients (losses scaled by 1/accumulate) into both
        networks' ``.grad``; returns its unscaled losses."""
        c = self.config
        share = 1.0 / c.accumulate
        # The L1/perceptual target, sharpened as each reference sharpens it: Real-ESRNet pools
        # GT sharpened before the cut; Real-ESRGAN and A-ESRGAN pool the plain GT (the
        # discriminator's "real") and sharpen what comes out of the pool.
        if self.gan:
            with torch.no_grad():
                gt_usm = self.degrader.usm(batch.gt)
        else:
            gt_usm = batch.gt
        losses: dict[str, float] = {}
        if self.net_d is not None:
            self.net_d.requires_grad_(False)
        with self._autocast():
            sr = self.net_g(batch.lq)
            loss = c.loss.pixel_weight * F.l1_loss(sr.float(), gt_usm)
            losses["l_pix"] = loss.item()
            if self.perceptual is not None:
                l_percep = c.loss.perceptual_weight * self.perceptual(sr, gt_usm)
                losses["l_percep"] = l_percep.item()
                loss = loss + l_percep
            if self.net_d is not None and c.loss.gan_weight > 0:
                l_gan = c.loss.gan_weight * gan_loss([o.float() for o in self.net_d(sr)], real=True)
                losses["l_g_gan"] = l_gan.item()
                loss = loss + l_gan
        (loss * share).backward()

        if self.net_d is not None:
            self.net_d.requires_grad_(True)
            with self._autocast():  # Real-ESRGAN: the discriminator sees the un-sharpened GT
                l_real = gan_loss([o.float() for o in self.net_d(batch.gt)], real=True)
            (l_real * share).backward()
            with self._autocast():
                l_fake = gan_loss([o.float() for o in self.net_d(sr.detach())], real=False)
            (l_fake * share).backward()
            losses |= {"l_d_real": l_real.item(), "l_d_fake": l_fake.item()}
        return losses

    @contextmanager
    def _determinism(self):
        """With ``deterministic``: deterministic kernels and no cuDNN autotuning while inside;
        the process's previous settings come back after (other work in it keeps its speed)."""
        if not self.config.deterministic:
            yield
            return
        cudnn = torch.backends.cudnn
        saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                 cudnn.benchmark, cudnn.deterministic)
        torch.use_deterministic_algorithms(True)
        cudnn.benchmark, cudnn.deterministic = False, True
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
            cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]

    def _autocast(self):
        # bf16 needs no loss scaling (same exponent range as fp32), unlike fp16.
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.config.amp == "bf16")

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.config.optim.ema_decay
        ema = dict(self.net_g_ema.named_parameters())
        for name, param in self.net_g.named_parameters():
            ema[name].mul_(decay).add_(param.detach(), alpha=1 - decay)
        for name, buffer in self.net_g.named_buffers():
            dict(self.net_g_ema.named_buffers())[name].copy_(buffer)

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """PSNR and SSIM (Y) of the EMA generator on the held-back pairs, its texture fidelity
        (:func:`texture_means`), and NIQE where the outputs are large enough for it (>= 192 px:
        its statistics need several 96 px patches)."""
        from upscaler.evaluation.image_metrics import detail_ratio, niqe, spectral_distance, ssim_y

        psnrs, ssims, niqes, textures = [], [], [], []
        for lq, gt in self.val_pairs:
            with self._determinism():
                sr = self.net_g_ema(lq.to(self.device)).clamp(0, 1).cpu()
            a, b = sr[0].permute(1, 2, 0).numpy(), gt[0].permute(1, 2, 0).numpy()
            psnrs.append(psnr(a, b))
            ssims.append(ssim_y(a, b))
            sr_bgr, gt_bgr = a[:, :, ::-1], b[:, :, ::-1]  # the texture measures read BGR, as cv2 does
            textures.append({"detail_ratio": detail_ratio(sr_bgr, gt_bgr),
                             "spectral_distance": spectral_distance(sr_bgr, gt_bgr)})
            if min(a.shape[:2]) >= 192:
                bgr = np.ascontiguousarray(np.rint(a[:, :, ::-1] * 255).astype(np.uint8))
                try:
                    niqes.append(niqe(bgr))
                except np.linalg.LinAlgError:  # a flat output: no score rather than a failed run
                    pass
        finite = [p for p in psnrs if math.isfinite(p)]
        metrics = {"psnr": float(np.mean(finite)) if finite else math.inf, "ssim": float(np.mean(ssims))}
        metrics |= texture_means(textures)
        if niqes:
            metrics["niqe"] = float(np.mean(niqes))
        return metrics

    # -- the loop ---------------------------------------------------------------------------------
    def train_until(self, target: int, on_progress: Callable[[Progress], None] | None = None,
                    on_step: Callable[[int], None] | None = None) -> Progress:
        """Train to iteration ``target`` (capped at total_iter), checkpointing every N iterations."""
        target = min(target, self.config.total_iter)
        progress = Progress(self.iteration)
        while self.iteration < target:
            progress.losses = self.step()
            if on_step:
                on_step(self.iteration)
            if self.iteration % self.config.checkpoint_every == 0 or self.iteration == self.config.total_iter:
                progress.metrics = self.validate()
                self.store.save(self.iteration, self.state_dict())
                progress.iteration, progress.checkpoint = self.iteration, self.store.latest_uri()
                self._log_tensorboard(progress)
                if on_progress:
                    on_progress(progress)
        progress.iteration = self.iteration
        return progress

    def _log_tensorboard(self, progress: Progress) -> None:
        if self.tensorboard is None:
            from torch.utils.tensorboard import SummaryWriter

            self.tensorboard = SummaryWriter(str(self.run_dir / "tensorboard"))
        for key, value in {**progress.losses, **{f"val/{k}": v for k, v in progress.metrics.items()}}.items():
            self.tensorboard.add_scalar(key, value, progress.iteration)
        self.tensorboard.flush()

    def ema_generator(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.net_g_ema.state_dict().items()}
