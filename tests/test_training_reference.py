"""The training against its references (Real-ESRGAN, A-ESRGAN, BasicSR; docs/training-reference.md):
perceptual features before the ReLU, resuming onto another device, the effective batch by
accumulation, cropping after degrading, the flip policy, deterministic resizes, and runs stored
before these options existed."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

import upscaler.compat  # noqa: F401  (before basicsr)
from tests.training_helpers import prepared_dataset, random_vgg_file, tiny_overrides
from training.config import TrainConfig, from_json, preset
from training.data import CropDataset
from training.degradations import Degrader, PairPool, paired_random_crop, sample_kernels
from training.discriminators import resize_bilinear
from training.losses import VGG_LAYERS, PerceptualLoss
from training.trainer import Trainer

# Resume onto every device this machine has: the CPU always, a GPU where there is one.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return prepared_dataset(tmp_path_factory.mktemp("reference"))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory) -> Path:
    return random_vgg_file(tmp_path_factory.mktemp("vgg") / "vgg.pth")


def seed_everything(seed: int) -> None:
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)


def gan_config(dataset: Path, vgg_file: Path, total: int, every: int, **extra) -> TrainConfig:
    """Tiny stage 2, two micro-batches of 2 per step: the pool of 4 is full after one step."""
    return preset("aesrgan-multi", tiny_overrides(total, every, every, data=str(dataset), accumulate=2,
                                                  loss={"vgg_weights": str(vgg_file)}, **extra))


# -- 1. perceptual features are read before the ReLU, as BasicSR reads them ----------------------
def test_perceptual_features_equal_basicsr_before_relu(vgg_file: Path, monkeypatch) -> None:
    from basicsr.archs import vgg_arch
    from basicsr.losses.basic_loss import PerceptualLoss as BasicsrPerceptualLoss

    def vgg19_with_the_same_weights(**_) -> torch.nn.Module:
        net = vgg19(weights=None)
        state = torch.load(vgg_file, weights_only=True)
        net.features.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
        return net

    # BasicSR builds torchvision's vgg19 itself (pretrained=True when its weight file is absent):
    # hand it the same random weights instead of a download.
    monkeypatch.setattr(vgg_arch, "VGG_PRETRAIN_PATH", str(vgg_file.with_name("absent.pth")))
    monkeypatch.setattr(vgg_arch.vgg, "vgg19", vgg19_with_the_same_weights)
    reference = vgg_arch.VGGFeatureExtractor(list(VGG_LAYERS), vgg_type="vgg19", use_input_norm=True,
                                             range_norm=False)
    ours = PerceptualLoss(str(vgg_file))
    torch.manual_seed(1)
    x = torch.rand(2, 3, 48, 48)
    theirs, mine = reference(x), ours._features(x)
    for name, (index, _) in VGG_LAYERS.items():
        assert (mine[index] < 0).any(), f"{name}: no negative values, so it was read after a ReLU"
        torch.testing.assert_close(mine[index], theirs[name], rtol=0, atol=0, msg=name)

    layer_weights = {name: weight for name, (_, weight) in VGG_LAYERS.items()}
    basicsr_loss = BasicsrPerceptualLoss(layer_weights, vgg_type="vgg19", use_input_norm=True, range_norm=False,
                                         perceptual_weight=1.0, style_weight=0.0, criterion="l1")
    sr, gt = torch.rand(2, 3, 48, 48), torch.rand(2, 3, 48, 48)
    expected, _ = basicsr_loss(sr, gt)
    torch.testing.assert_close(ours(sr, gt), expected)


# -- 2. a run resumes on another device than the one that saved it -------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_resume_moves_every_stateful_tensor_to_the_trainer_device(dataset: Path, vgg_file: Path, tmp_path: Path,
                                                                  device: str) -> None:
    config = gan_config(dataset, vgg_file, 2, 1)
    saved = Trainer(config, tmp_path / "run", device="cpu")
    saved.train_until(1)
    assert saved.pool.filled == config.pool_size  # from here on the pool hands out stored pairs
    del saved
    resumed = Trainer(config, tmp_path / "run", device=device)
    assert resumed.resume() and resumed.iteration == 1
    tensors = dict(resumed.stateful_tensors())
    assert {"pool.lq", "pool.gt"} <= set(tensors)
    assert any(k.startswith("optim_g.") for k in tensors) and any(k.startswith("optim_d.") for k in tensors)
    elsewhere = {name: str(t.device) for name, t in tensors.items() if t.device.type != resumed.device.type}
    assert not elsewhere
    resumed.train_until(2)  # the step after the boundary trains on pairs out of the restored pool
    assert resumed.iteration == 2


def test_pool_state_from_older_checkpoints_loads_on_the_pool_device() -> None:
    pool = PairPool(4, "cpu")
    old = {"lq": torch.rand(4, 3, 4, 4), "gt": torch.rand(4, 3, 16, 16), "gt_usm": torch.rand(4, 3, 16, 16),
           "filled": 4}
    pool.load_state_dict(old)
    assert pool.filled == 4 and torch.equal(pool.gt, old["gt"]) and set(pool.tensors()) == {"lq", "gt"}


# -- 3. the effective batch: accumulation = one big batch ------------------------------------------
def test_accumulated_micro_batches_give_the_gradient_of_one_big_batch(dataset: Path, vgg_file: Path,
                                                                      tmp_path: Path) -> None:
    # L1 + perceptual: no batch statistics on the generator's side (the discriminator's
    # BatchNorm sees one micro-batch at a time, as it sees one GPU's batch in the references).
    common = {"pool_size": 0, "loss": {"vgg_weights": str(vgg_file), "gan_weight": 0.0}}
    big = Trainer(preset("aesrgan-multi", tiny_overrides(1, 1, 1, data=str(dataset), batch_size=4, accumulate=1,
                                                         **common)), tmp_path / "big")
    small = Trainer(preset("aesrgan-multi", tiny_overrides(1, 1, 1, data=str(dataset), batch_size=2, accumulate=2,
                                                           **common)), tmp_path / "small")
    assert big.config.effective_batch == small.config.effective_batch == 4
    for a, b in zip(big.net_g.parameters(), small.net_g.parameters()):
        assert torch.equal(a, b)
    batch = big._next_pair()
    halves = [type(batch)(batch.lq[i : i + 2], batch.gt[i : i + 2]) for i in (0, 2)]
    big._next_pair = lambda: batch
    small._next_pair = lambda: halves.pop(0)
    big_losses, small_losses = big.step(), small.step()
    assert not halves  # the small trainer took both micro-batches in its one step
    for name in ("l_pix", "l_percep"):
        assert small_losses[name] == pytest.approx(big_losses[name], rel=1e-5)
    for (name, a), b in zip(big.net_g.named_parameters(), small.net_g.parameters()):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-8, msg=name)


# -- 4. the pair is cut after degrading -------------------------------------------------------------
def test_paired_crop_cuts_the_same_window_of_lq_and_gt() -> None:
    gt = torch.arange(2 * 3 * 40 * 40, dtype=torch.float32).view(2, 3, 40, 40)
    lq = gt[..., ::4, ::4]  # lq pixel (y, x) comes from gt pixel (4y, 4x)
    corners = set()
    for _ in range(40):
        lq_crop, gt_crop = paired_random_crop(lq, gt, 16)
        assert lq_crop.shape == (2, 3, 4, 4) and gt_crop.shape == (2, 3, 16, 16)
        assert torch.equal(lq_crop, gt_crop[..., ::4, ::4])
        corners.add(int(lq_crop[0, 0, 0, 0]))
    assert len(corners) > 10  # anywhere in the image, not one fixed window
    with pytest.raises(ValueError, match="not 4x lq"):
        paired_random_crop(lq, gt[..., :36, :], 16)
    with pytest.raises(ValueError, match="smaller than"):
        paired_random_crop(lq, gt, 64)


def test_degrader_degrades_the_whole_crop_then_cuts_the_pair() -> None:
    cfg = TrainConfig().degradation
    torch.manual_seed(3)
    big = torch.rand(2, 3, 96, 96)
    kernels = [sample_kernels(cfg) for _ in range(2)]
    k1, k2, sinc = (torch.stack(k) for k in zip(*kernels))
    inner_windows = 0
    for seed in range(4):
        seed_everything(seed)
        whole = Degrader(cfg, torch.device("cpu"))(big, k1, k2, sinc)
        seed_everything(seed)  # the same draws again; the cut comes after all of them
        pair = Degrader(cfg, torch.device("cpu"), crop=64)(big, k1, k2, sinc)
        assert whole.lq.shape == (2, 3, 24, 24)
        assert pair.lq.shape == (2, 3, 16, 16) and pair.gt.shape == (2, 3, 64, 64)
        # The GT is one window of the degraded crop, at a multiple of 4, the same for the batch ...
        windows = [(y, x) for y in range(0, 33, 4) for x in range(0, 33, 4)
                   if torch.equal(pair.gt, big[..., y : y + 64, x : x + 64])]
        assert len(windows) == 1
        y, x = windows[0]
        # ... and the LQ is the same window of the whole crop's degradation: its edges are that
        # image's inner pixels, not a small crop's padded borders (unless the window is at an edge).
        assert torch.equal(pair.lq, whole.lq[..., y // 4 : y // 4 + 16, x // 4 : x // 4 + 16])
        inner_windows += 0 < y < 32 and 0 < x < 32
        # Real-ESRNet's target: the same window of the GT sharpened whole, before the cut.
        seed_everything(seed)
        degrader = Degrader(cfg, torch.device("cpu"), crop=64)
        sharpened = degrader(big, k1, k2, sinc, sharpened_gt=True)
        assert torch.equal(sharpened.lq, pair.lq)
        assert torch.equal(sharpened.gt, degrader.usm(big)[..., y : y + 64, x : x + 64])
    assert inner_windows > 0


# -- 5. flips: mirror only by default ---------------------------------------------------------------
def test_flip_policy_mirrors_only_unless_asked(dataset: Path) -> None:
    data = CropDataset(dataset)
    name = next(n for n in data.train_names if data._load(n).shape[:2] == (96, 96))
    x = torch.from_numpy(data._load(name)).permute(2, 0, 1)
    t = x.transpose(1, 2)
    orientations = {"as is": x, "mirrored": x.flip(2), "upside down": x.flip(1), "rotated 180": x.flip(1, 2),
                    "transposed": t, "transposed mirrored": t.flip(2), "transposed upside down": t.flip(1),
                    "anti-transposed": t.flip(1, 2)}

    def seen(flips: str) -> set[str]:
        random.seed(0)
        found = set()
        for _ in range(64):
            crop = data.gt_crop(name, 96, flips)
            found |= {label for label, o in orientations.items() if torch.equal(crop, o)}
        return found

    assert seen("horizontal") == {"as is", "mirrored"}
    assert seen("none") == {"as is"}
    assert seen("all") == set(orientations)
    assert TrainConfig().flips == "horizontal"
    with pytest.raises(ValueError, match="flips 'rotate'"):
        data.gt_crop(name, 96, "rotate")


# -- 6. deterministic option -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,size", [((2, 4, 9, 9), (18, 18)), ((1, 3, 7, 5), (4, 6)), ((1, 2, 11, 13), (11, 13)),
                                        ((1, 1, 6, 8), (3, 17))])
def test_deterministic_resize_equals_bilinear_forward_and_backward(shape, size) -> None:
    torch.manual_seed(0)
    x = torch.rand(shape, dtype=torch.float64, requires_grad=True)
    upstream = torch.rand(*shape[:2], *size, dtype=torch.float64)
    expected = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    (expected_grad,) = torch.autograd.grad(expected, x, upstream)
    got = resize_bilinear(x, size, deterministic=True)
    (got_grad,) = torch.autograd.grad(got, x, upstream)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got_grad, expected_grad)


@pytest.mark.slow
def test_deterministic_training_resumes_exactly_and_restores_the_process_settings(
        dataset: Path, vgg_file: Path, tmp_path: Path, monkeypatch) -> None:
    cudnn = torch.backends.cudnn
    before = (torch.are_deterministic_algorithms_enabled(), cudnn.benchmark, cudnn.deterministic)
    inside = []
    original = Trainer._backward

    def recording(self, batch):
        inside.append((torch.are_deterministic_algorithms_enabled(), cudnn.benchmark, cudnn.deterministic))
        return original(self, batch)

    monkeypatch.setattr(Trainer, "_backward", recording)
    config = gan_config(dataset, vgg_file, 2, 1, deterministic=True)
    straight = Trainer(config, tmp_path / "a")
    straight.train_until(2)
    interrupted = Trainer(config, tmp_path / "b")
    interrupted.train_until(1)
    del interrupted
    resumed = Trainer(config, tmp_path / "b")
    assert resumed.resume() and resumed.iteration == 1
    resumed.train_until(2)
    for a, b in zip(straight.net_g_ema.state_dict().values(), resumed.net_g_ema.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(straight.net_d.state_dict().values(), resumed.net_d.state_dict().values()):
        assert torch.equal(a, b)
    assert inside and set(inside) == {(True, False, True)}
    assert (torch.are_deterministic_algorithms_enabled(), cudnn.benchmark, cudnn.deterministic) == before


# -- configs --------------------------------------------------------------------------------------
def test_a_run_stored_before_the_new_options_resumes_as_it_trained() -> None:
    stored = preset("aesrgan-multi").to_json()
    for key in ("degrade_size", "flips", "accumulate", "deterministic"):
        del stored[key]
    old = from_json(stored)
    assert (old.degrade_size, old.flips, old.accumulate, old.deterministic) == (256, "all", 1, False)
    assert from_json(preset("aesrgan-multi").to_json()) == preset("aesrgan-multi")


@pytest.mark.parametrize("overrides,message", [
    ({"degrade_size": 200}, "degrade_size 200: must be a multiple of 4 and at least gt_size"),
    ({"degrade_size": 402}, "degrade_size 402"),
    ({"flips": "rotate"}, "flips 'rotate': choose horizontal, all, none"),
    ({"accumulate": 0}, "accumulate 0: must be a whole number >= 1"),
    ({"batch_size": 0}, "batch_size 0: must be a whole number >= 1"),
    ({"deterministic": "yes"}, "deterministic 'yes': must be true or false"),
])
def test_bad_training_options_are_named(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset("esrnet", overrides)
