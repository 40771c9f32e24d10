"""Training toward texture fidelity: the supplier degradation preset, and the texture metrics
(detail ratio, spectral distance) in every validation and in `upscaler train compare`."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cli.main import app
from tests.support import SAMPLES
from tests.training_helpers import prepared_dataset, tiny_overrides
from training.config import DEGRADATIONS, from_json, preset
from training.degradations import CHAINS, Degrader, chain, sample_kernels
from training.trainer import Trainer, texture_means

runner = CliRunner()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return prepared_dataset(tmp_path_factory.mktemp("fidelity"))


def _textures(size: int = 96) -> torch.Tensor:
    """The bundled texture samples (brick, grass, gravel), a ``size`` px corner each, N,3,H,W RGB."""
    crops = []
    for path in sorted(SAMPLES.glob("*.png")):
        image = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        crops.append(torch.from_numpy(image[:size, :size].astype(np.float32) / 255).permute(2, 0, 1))
    return torch.stack(crops)


def _degrade(name: str, gt: torch.Tensor, seed: int, **supplier) -> torch.Tensor:
    """LQ of ``gt`` under the named preset, every RNG seeded first (as the trainer seeds them)."""
    cfg = preset("esrnet", {"degradation": {"preset": name, "supplier": supplier}}).degradation
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    kernels = tuple(torch.stack(k) for k in zip(*(sample_kernels(cfg) for _ in range(gt.size(0)))))
    return Degrader(cfg, torch.device("cpu"))(gt, *kernels).lq


def test_supplier_lq_is_a_quarter_size_8bit_image() -> None:
    gt = _textures()
    lq = _degrade("supplier", gt, seed=0)
    assert lq.shape == (3, 3, 24, 24)
    assert lq.min() >= 0 and lq.max() <= 1
    assert torch.allclose(lq * 255, (lq * 255).round(), atol=1e-4)
    assert len(sample_kernels(preset("esrnet", {"degradation": {"preset": "supplier"}}).degradation)) == 1


def test_supplier_is_one_pass_without_sinc_or_second_order() -> None:
    """With blur and noise off and JPEG pinned, the LQ is exactly the area reduction saved as
    JPEG once: nothing else (no sharpening, sinc, second resize or second JPEG) touches it."""
    gt = _textures()
    lq = _degrade("supplier", gt, seed=3, resize_modes=["area"], blur_prob=0.0, noise_prob=0.0,
                  jpeg_range=[90.0, 90.0])
    degrader = Degrader(preset("esrnet").degradation, torch.device("cpu"))
    once = degrader.jpeg(F.interpolate(gt, size=(24, 24), mode="area"), quality=torch.full((3,), 90.0))
    assert torch.equal(lq, torch.clamp((once * 255).round(), 0, 255) / 255)


def test_supplier_lq_keeps_more_of_the_truth_than_the_realesrgan_chain() -> None:
    """Less blur, ringing and noise: enlarged back with bicubic, the supplier LQ is closer to
    the ground truth than the second-order chain's, on average over seeded samples."""
    gt = _textures(64)

    def error(name: str) -> float:
        errors = []
        for seed in range(4):
            up = F.interpolate(_degrade(name, gt, seed), scale_factor=4, mode="bicubic").clamp(0, 1)
            errors.append(float(((up - gt) ** 2).mean()))
        return float(np.mean(errors))

    supplier, realesrgan = error("supplier"), error("realesrgan")
    assert supplier < 0.8 * realesrgan, (supplier, realesrgan)


@pytest.mark.parametrize("name", DEGRADATIONS)
def test_degradation_is_deterministic_under_a_seed(name: str) -> None:
    gt = _textures(64)
    assert torch.equal(_degrade(name, gt, seed=5), _degrade(name, gt, seed=5))
    assert not torch.equal(_degrade(name, gt, seed=5), _degrade(name, gt, seed=6))


def test_unknown_degradation_preset_is_a_clear_error() -> None:
    assert set(CHAINS) == set(DEGRADATIONS) == {"realesrgan", "supplier"}
    with pytest.raises(ValueError, match="unknown degradation preset 'blurry'; choose realesrgan, supplier"):
        preset("esrnet", {"degradation": {"preset": "blurry"}})
    with pytest.raises(ValueError, match="'blurry'; choose realesrgan, supplier"):
        chain("blurry")
    bad = preset("esrnet").degradation
    bad.preset = "blurry"
    with pytest.raises(ValueError, match="'blurry'"):
        Degrader(bad, torch.device("cpu"))
    with pytest.raises(ValueError, match="resize_modes"):
        preset("esrnet", {"degradation": {"supplier": {"resize_modes": ["nearest"]}}})
    with pytest.raises(ValueError, match="jpeg_range"):
        preset("esrnet", {"degradation": {"supplier": {"jpeg_range": [95.0, 75.0]}}})


def test_the_stored_config_keeps_the_preset() -> None:
    stored = json.loads(json.dumps(preset("esrnet", {"degradation": {"preset": "supplier"}}).to_json()))
    assert from_json(stored).degradation.preset == "supplier"
    assert preset("esrnet").degradation.preset == "realesrgan"  # the default: the references' chain
    # A run stored before the key existed trained on the second-order chain: it resumes on it.
    del stored["degradation"]["preset"], stored["degradation"]["supplier"]
    assert from_json(stored).degradation.preset == "realesrgan"


def test_texture_means_average_on_a_log_scale() -> None:
    means = texture_means([{"detail_ratio": 0.5, "spectral_distance": 0.2},
                           {"detail_ratio": 2.0, "spectral_distance": 0.4}])
    assert means["detail_ratio"] == pytest.approx(1.0)
    assert means["detail_log_error"] == pytest.approx(math.log(2))
    assert means["spectral_distance"] == pytest.approx(0.3)
    # A flat truth has no texture to keep (left out); a flat output counts as almost none kept.
    means = texture_means([{"detail_ratio": math.inf, "spectral_distance": 0.1},
                           {"detail_ratio": 0.0, "spectral_distance": 0.1}])
    assert means["detail_ratio"] == pytest.approx(1e-3) and math.isfinite(means["detail_log_error"])


class _Oracle(torch.nn.Module):
    """A perfect x4 model for the validation pairs: each LQ's own ground truth."""

    def __init__(self, pairs) -> None:
        super().__init__()
        self.pairs = pairs

    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        return next(gt for known, gt in self.pairs if torch.equal(known, lq.cpu()))


class _Bicubic(torch.nn.Module):
    def forward(self, lq: torch.Tensor) -> torch.Tensor:
        return F.interpolate(lq, scale_factor=4, mode="bicubic")


def test_validation_measures_texture_fidelity(dataset: Path, tmp_path: Path) -> None:
    config = preset("esrnet", tiny_overrides(1, 1, 1, data=str(dataset), pool_size=0,
                                             degradation={"preset": "supplier"}))
    trainer = Trainer(config, tmp_path / "run")
    metrics = trainer.validate()  # the tiny random generator
    assert {"psnr", "ssim", "detail_ratio", "detail_log_error", "spectral_distance"} <= set(metrics)
    assert all(math.isfinite(metrics[k]) for k in ("detail_ratio", "detail_log_error", "spectral_distance"))

    trainer.net_g_ema = _Oracle(trainer.val_pairs)
    perfect = trainer.validate()
    assert perfect["detail_ratio"] == pytest.approx(1.0) and perfect["detail_log_error"] == pytest.approx(0.0)
    assert perfect["spectral_distance"] == pytest.approx(0.0)

    trainer.net_g_ema = _Bicubic()  # enlarging alone smooths: less fine texture, a farther spectrum
    smooth = trainer.validate()
    assert smooth["detail_ratio"] < 0.5 and smooth["detail_log_error"] > 0.5
    assert smooth["spectral_distance"] > 0.3


def test_train_compare_shows_the_texture_metrics(dataset: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "tiny.json"
    overrides.write_text(json.dumps(tiny_overrides(1, 1, 1, pool_size=0)))
    runs = {}
    for degradation in DEGRADATIONS:  # no broker: each run trains in-process, to the end
        result = runner.invoke(app, ["train", "submit", "--stage", "esrnet", "--data", str(dataset), "--config",
                                     str(overrides), "--degradation", degradation, "--name", f"tiny-{degradation}",
                                     "--json"])
        assert result.exit_code == 0, result.output
        runs[degradation] = json.loads(result.stdout)
        assert runs[degradation]["config"]["degradation"]["preset"] == degradation

    compared = runner.invoke(app, ["train", "compare", "tiny-realesrgan", "tiny-supplier", "--json"])
    assert compared.exit_code == 0, compared.output
    result = json.loads(compared.stdout)
    assert {"key": "degradation.preset", "a": "realesrgan", "b": "supplier"} in result["config_differences"]
    for side in ("a", "b"):
        metrics = result[side]["metrics"]
        assert result[side]["status"] == "succeeded"
        assert metrics["detail_ratio"] > 0 and metrics["detail_log_error"] >= 0
        assert metrics["spectral_distance"] >= 0

    table = runner.invoke(app, ["train", "compare", "tiny-realesrgan", "tiny-supplier"])
    assert table.exit_code == 0, table.output
    for key in ("detail_ratio", "detail_log_error", "spectral_distance"):
        row = next(line for line in table.stdout.splitlines() if f"texture {key}" in line)
        assert f"{result['a']['metrics'][key]:.3f}" in row and f"{result['b']['metrics'][key]:.3f}" in row
    assert "degrade differently" in table.output


def test_submit_rejects_an_unknown_degradation_preset(dataset: Path) -> None:
    result = runner.invoke(app, ["train", "submit", "--stage", "esrnet", "--data", str(dataset),
                                 "--degradation", "blurry"])
    assert result.exit_code == 2
    message = " ".join(result.output.replace("│", " ").split())  # the error box wraps it at 80 columns
    assert "unknown degradation preset 'blurry'; choose realesrgan, supplier" in message
