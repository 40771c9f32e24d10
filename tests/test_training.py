"""Training pieces in-process: configs, discriminators, dataset preparation, degradations,
losses, and exact resumption from a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.training_helpers import prepared_dataset, random_vgg_file, tiny_overrides
from training.config import PRESETS, TrainConfig, differences, preset
from training.degradations import Degrader, sample_kernels
from training.discriminators import MultiScaleDiscriminator, build_discriminator
from training.losses import PerceptualLoss
from training.prepare import DEFAULT_THRESHOLD, texture_score
from training.trainer import Trainer
from upscaler.errors import PermanentError
from upscaler.zoo.checkpoint import unwrap


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return prepared_dataset(tmp_path_factory.mktemp("train"))


def test_presets_and_unknown_keys() -> None:
    assert preset("esrnet").loss.gan_weight == 0 and preset("esrnet").optim.lr_g == 2e-4
    gan = preset("aesrgan-multi")
    assert (gan.loss.pixel_weight, gan.loss.perceptual_weight, gan.loss.gan_weight) == (1.0, 1.0, 0.1)
    assert gan.optim.lr_g == 1e-4 and gan.network.disc == "multi"
    assert preset("study-training1").loss.pixel_weight == 2.0 and preset("study-training1").loss.gan_weight == 0.2
    assert preset("study-training2").optim.lr_g < gan.optim.lr_g
    for name in ("esrnet", "aesrgan-multi"):  # the references: 12 per GPU on 4 GPUs, 400 px degraded, mirror only
        reference = preset(name)
        assert (reference.batch_size, reference.accumulate, reference.effective_batch) == (12, 4, 48)
        assert (reference.degrade_size, reference.gt_size, reference.flips) == (400, 256, "horizontal")
        assert not reference.deterministic
    for name in ("study-training1", "study-training2"):  # the study: one GPU, one batch per step
        assert preset(name).effective_batch == 12 and preset(name).flips == "horizontal"
    with pytest.raises(ValueError, match="unknown config key loss.pixle_weight"):
        preset("esrnet", {"loss": {"pixle_weight": 1}})
    with pytest.raises(ValueError, match="L1 only"):
        preset("esrnet", {"loss": {"gan_weight": 0.1}})
    assert set(PRESETS) == {"esrnet", "aesrgan-multi", "study-training1", "study-training2"}


def test_differences_name_every_changed_setting() -> None:
    a, b = preset("study-training1").to_json(), preset("study-training2").to_json()
    keys = {k for k, _, _ in differences(a, b)}
    assert {"loss.pixel_weight", "loss.gan_weight", "optim.lr_g", "total_iter"} <= keys
    assert differences(a, a) == []


def test_multiscale_discriminator_shapes_and_size() -> None:
    disc = build_discriminator("multi", 64)
    assert sum(p.numel() for p in disc.parameters()) == pytest.approx(10.8e6, rel=0.01)
    full, half = disc(torch.rand(2, 3, 64, 64))
    assert full.shape == (2, 1, 64, 64) and half.shape == (2, 1, 32, 32)
    (single,) = build_discriminator("single", 16)(torch.rand(1, 3, 48, 48))
    assert single.shape == (1, 1, 48, 48)


def test_aesrgan_checkpoint_key_layout_loads() -> None:
    reference = MultiScaleDiscriminator(3, 16)
    state = reference.state_dict()
    for key in ("layer0.conv0.weight", "layer1.conv1.weight_orig", "layer1.conv1.weight_u", "layer0.gating.weight_orig",
                "layer0.attn_1.W.0.weight", "layer0.attn_1.W.1.running_mean", "layer1.attn_3.theta.weight",
                "layer1.attn_2.phi.bias", "layer0.attn_1.psi.weight", "layer1.cat_2.convU.weight_orig",
                "layer0.conv9.bias"):
        assert key in state, key
    # As A-ESRGAN releases it: the state dict under "params", loaded strictly.
    fresh = MultiScaleDiscriminator(3, 16)
    fresh.load_state_dict(unwrap({"params": state}, "A_ESRGAN_Multi_D.pth"), strict=True)
    x = torch.rand(1, 3, 32, 32)
    reference.eval(), fresh.eval()
    assert all(torch.equal(a, b) for a, b in zip(reference(x), fresh(x)))


def test_texture_score_separates_flat_from_textured() -> None:
    import cv2
    import numpy as np

    from tests.support import SAMPLES

    flat = np.full((120, 160, 3), 200, np.uint8)
    noisy_flat = np.clip(flat + np.random.default_rng(0).normal(0, 3, flat.shape), 0, 255).astype(np.uint8)
    for img in (flat, noisy_flat):
        assert texture_score(img) < DEFAULT_THRESHOLD
    for name in ("brick", "grass", "gravel"):
        assert texture_score(cv2.imread(str(SAMPLES / f"{name}.png"))) > 3 * DEFAULT_THRESHOLD


def test_prepare_from_a_folder(dataset: Path) -> None:
    meta = (dataset / "meta_info.txt").read_text().split()
    assert len(meta) > 20 and all((dataset / m).is_file() for m in meta)
    assert {m.split("_s")[1][0] for m in meta} == {"0", "1", "2", "3"}  # four scales
    assert (dataset / "removed.txt").read_text().split("\n")[:2] == ["plain beige.png", "smooth gradient.jpg"]
    assert (dataset / "removed_contact_sheet.png").is_file()
    scores = (dataset / "scores.csv").read_text().splitlines()
    assert scores[0] == "image,texture_score,kept" and len(scores) == 6


def test_degradation_makes_quarter_size_8bit_pairs() -> None:
    cfg = TrainConfig().degradation
    kernels = [sample_kernels(cfg) for _ in range(3)]
    k1, k2, sinc = (torch.stack(k) for k in zip(*kernels))
    batch = Degrader(cfg, torch.device("cpu"))(torch.rand(3, 3, 64, 64), k1, k2, sinc)
    assert batch.lq.shape == (3, 3, 16, 16) and batch.gt.shape == (3, 3, 64, 64)
    assert batch.lq.min() >= 0 and batch.lq.max() <= 1
    assert torch.allclose(batch.lq * 255, (batch.lq * 255).round(), atol=1e-4)


def test_perceptual_loss_weights_come_from_a_file(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="never downloaded|local torchvision vgg19"):
        PerceptualLoss("")
    with pytest.raises(PermanentError, match="not found"):
        PerceptualLoss(str(tmp_path / "missing.pth"))
    loss = PerceptualLoss(str(random_vgg_file(tmp_path / "vgg.pth")))
    x = torch.rand(1, 3, 32, 32)
    assert loss(x, x).item() == 0 and loss(x, torch.rand(1, 3, 32, 32)).item() > 0


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["esrnet", "aesrgan-multi"])
def test_resume_continues_exactly(dataset: Path, tmp_path: Path, stage: str) -> None:
    extra = {} if stage == "esrnet" else {"loss": {"vgg_weights": str(random_vgg_file(tmp_path / "vgg.pth"))}}
    # Two micro-batches per step: the pool (4) is full from the first step on.
    config = preset(stage, tiny_overrides(4, 2, 2, data=str(dataset), accumulate=2, **extra))
    straight = Trainer(config, tmp_path / "a")
    straight.train_until(4)
    interrupted = Trainer(config, tmp_path / "b")
    interrupted.train_until(2)
    del interrupted  # as if the machine died here: only the checkpoint on disk remains
    resumed = Trainer(config, tmp_path / "b")
    assert resumed.resume() and resumed.iteration == 2
    progress = resumed.train_until(4)
    assert progress.iteration == 4 and "psnr" in progress.metrics and "ssim" in progress.metrics
    for a, b in zip(straight.state_dict()["net_g_ema"].values(), resumed.state_dict()["net_g_ema"].values()):
        assert torch.equal(a, b)
    if stage != "esrnet":
        for a, b in zip(straight.net_d.state_dict().values(), resumed.net_d.state_dict().values()):
            assert torch.equal(a, b)
    kept = sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("ckpt_*.pth"))
    assert kept == ["ckpt_000000002.pth", "ckpt_000000004.pth"]
    assert (tmp_path / "b" / "tensorboard").is_dir()
    json.dumps(resumed.state_dict()["config"])  # the resolved config travels with the checkpoint


def test_blur_works_on_images_smaller_than_the_kernel() -> None:
    from training.degradations import _filter

    kernel = torch.zeros(2, 21, 21)
    kernel[:, 10, 10] = 1  # identity
    for shape in [(2, 3, 10, 10), (2, 3, 4, 30), (2, 3, 40, 40)]:
        x = torch.rand(*shape)
        assert torch.allclose(_filter(x, kernel), x, atol=1e-6)


def test_bf16_mixed_precision_step(dataset: Path, tmp_path: Path) -> None:
    config = preset("aesrgan-multi", tiny_overrides(2, 2, 2, data=str(dataset), amp="bf16",
                                                    loss={"vgg_weights": str(random_vgg_file(tmp_path / "v.pth"))}))
    losses = Trainer(config, tmp_path / "run").step()
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()) and "l_g_gan" in losses


def test_validation_reports_niqe_on_full_size_crops(dataset: Path, tmp_path: Path) -> None:
    config = preset("esrnet", tiny_overrides(1, 1, 1, data=str(dataset), gt_size=192, degrade_size=192,
                                             validate_pairs=1, pool_size=0))
    metrics = Trainer(config, tmp_path / "run").validate()
    assert {"psnr", "ssim", "niqe"} <= set(metrics) and metrics["niqe"] > 0
