"""Typed training configuration: one dataclass per concern, presets for the two stages.

Every run stores its full resolved config (``asdict``) in its checkpoints and in SQL, so
``upscaler train compare`` can show exactly what differed between two runs: the study could
not tell which of its simultaneous changes helped. Unknown keys are an error, never ignored.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

# Augmentations a crop may get: "horizontal" is the references' (use_hflip: True, use_rot:
# False); "all" adds vertical flips and transposes, which move a material photo's light to the
# other side; "none" keeps every crop as it is.
FLIPS = ("horizontal", "all", "none")

# Degradation presets, each one function in training/degradations.py: "realesrgan" is the
# references' second-order chain (the default: what every earlier run trained on); "supplier"
# is one mild pass, like the product photos suppliers send, for fine-tunes that must keep
# fabric, carpet and leather texture rather than learn to scrub it.
DEGRADATIONS = ("realesrgan", "supplier")
RESIZE_MODES = ("area", "bicubic", "bilinear")


@dataclass
class NetworkConfig:
    num_feat: int = 64          # generator feature width (x4plus: 64)
    num_block: int = 23         # RRDB blocks (x4plus: 23)
    num_grow_ch: int = 32       # dense-block growth channels (x4plus: 32)
    disc: str = "multi"         # "multi" (two attention U-Nets, full and half size) or "single"
    disc_feat: int = 64         # discriminator base width (A-ESRGAN: 64, ~10.8 M parameters for multi)


@dataclass
class SupplierDegradationConfig:
    """The ``supplier`` preset: one mild pass, in this order, at the LQ (photo) resolution.

    Downscale x4, then a slight Gaussian blur (a soft lens or focus), a little Gaussian noise,
    JPEG as a shop system saves it. No second pass, no sinc ringing, no sharpening.
    """

    resize_modes: list[str] = field(default_factory=lambda: list(RESIZE_MODES))  # one drawn per batch
    blur_prob: float = 0.5                                                      # per sample
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 1.0])        # LQ pixels
    noise_prob: float = 0.5                                                     # per sample
    noise_range: list[float] = field(default_factory=lambda: [0.0, 3.0])       # sigma, levels of 255
    jpeg_range: list[float] = field(default_factory=lambda: [75.0, 95.0])      # quality, per sample


@dataclass
class DegradationConfig:
    """Which degradation preset (``preset``) and its settings. The flat keys are Real-ESRGAN's
    second-order chain (the ``realesrgan`` preset), defaults its published x4plus settings;
    ``supplier.*`` are the supplier preset's."""

    preset: str = "realesrgan"     # "realesrgan" or "supplier" (DEGRADATIONS)
    blur_kernel_size: int = 21
    kernel_list: list[str] = field(default_factory=lambda: ["iso", "aniso", "generalized_iso", "generalized_aniso",
                                                            "plateau_iso", "plateau_aniso"])
    kernel_prob: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.12, 0.03, 0.12, 0.03])
    sinc_prob: float = 0.1
    blur_sigma: list[float] = field(default_factory=lambda: [0.2, 3.0])
    betag_range: list[float] = field(default_factory=lambda: [0.5, 4.0])
    betap_range: list[float] = field(default_factory=lambda: [1.0, 2.0])
    sinc_prob2: float = 0.1
    blur_sigma2: list[float] = field(default_factory=lambda: [0.2, 1.5])
    betag_range2: list[float] = field(default_factory=lambda: [0.5, 4.0])
    betap_range2: list[float] = field(default_factory=lambda: [1.0, 2.0])
    final_sinc_prob: float = 0.8
    resize_prob: list[float] = field(default_factory=lambda: [0.2, 0.7, 0.1])   # up, down, keep
    resize_range: list[float] = field(default_factory=lambda: [0.15, 1.5])
    gaussian_noise_prob: float = 0.5
    noise_range: list[float] = field(default_factory=lambda: [1.0, 30.0])
    poisson_scale_range: list[float] = field(default_factory=lambda: [0.05, 3.0])
    gray_noise_prob: float = 0.4
    jpeg_range: list[float] = field(default_factory=lambda: [30.0, 95.0])
    second_blur_prob: float = 0.8
    resize_prob2: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.3])
    resize_range2: list[float] = field(default_factory=lambda: [0.3, 1.2])
    gaussian_noise_prob2: float = 0.5
    noise_range2: list[float] = field(default_factory=lambda: [1.0, 25.0])
    poisson_scale_range2: list[float] = field(default_factory=lambda: [0.05, 2.5])
    gray_noise_prob2: float = 0.4
    jpeg_range2: list[float] = field(default_factory=lambda: [30.0, 95.0])
    supplier: SupplierDegradationConfig = field(default_factory=SupplierDegradationConfig)

    def validate(self) -> None:
        if self.preset not in DEGRADATIONS:
            raise ValueError(f"unknown degradation preset {self.preset!r}; choose {', '.join(DEGRADATIONS)}")
        s = self.supplier
        if not s.resize_modes or set(s.resize_modes) - set(RESIZE_MODES):
            raise ValueError(f"degradation.supplier.resize_modes {s.resize_modes!r}: choose from "
                             f"{', '.join(RESIZE_MODES)}")
        for name in ("blur_sigma", "noise_range", "jpeg_range"):
            low, high = getattr(s, name)
            if not 0 <= low <= high:
                raise ValueError(f"degradation.supplier.{name} {[low, high]!r}: must be 0 <= low <= high")
        if s.blur_sigma[0] <= 0 or s.jpeg_range[1] > 100:
            raise ValueError("degradation.supplier: blur sigmas must be > 0, JPEG qualities at most 100")


@dataclass
class LossConfig:
    pixel_weight: float = 1.0        # L1
    perceptual_weight: float = 0.0   # VGG19 conv1_2..conv5_4 (0.1, 0.1, 1, 1, 1)
    gan_weight: float = 0.0          # vanilla GAN, summed over the discriminator's scales
    vgg_weights: str = ""            # local torchvision vgg19 .pth; required when perceptual_weight > 0


@dataclass
class OptimConfig:
    lr_g: float = 2e-4
    lr_d: float = 1e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])
    milestones: list[int] = field(default_factory=lambda: [400_000])   # multi-step LR, iterations
    gamma: float = 0.5
    ema_decay: float = 0.999


@dataclass
class TrainConfig:
    stage: str = "esrnet"             # "esrnet" (L1 only) or "aesrgan" (L1 + perceptual + GAN)
    data: str = ""                    # prepared dataset folder (has meta_info.txt)
    gt_size: int = 256                # ground-truth training crop, pixels (LQ is gt_size / 4)
    degrade_size: int = 400           # GT crop that is degraded, pixels; the gt_size pair is cut from it after
    flips: str = "horizontal"         # augmentation: "horizontal" (mirror only), "all" (+ vertical, transpose), "none"
    batch_size: int = 12              # samples per forward pass (one micro-batch)
    accumulate: int = 4               # micro-batches per optimiser step: effective batch = batch_size * accumulate
    pool_size: int = 180              # training-pair pool (Real-ESRGAN's queue); 0 = off; multiple of batch
    total_iter: int = 400_000
    checkpoint_every: int = 5_000
    keep_checkpoints: int = 3
    segment_iters: int = 10_000       # one queue task trains this many, then enqueues the next
    validate_pairs: int = 8           # held-back (GT, LQ) pairs for PSNR/SSIM/NIQE at each checkpoint
    seed: int = 0
    amp: str = "off"                  # "bf16": autocast forward passes to bfloat16 (CUDA, or CPUs with bf16)
    deterministic: bool = False       # CUDA: deterministic kernels, no cuDNN autotuning (slower; exact resume)
    init_from: str = ""               # "" (scratch), a model name / .pth, or "run:<id>" (its EMA generator)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    degradation: DegradationConfig = field(default_factory=DegradationConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @property
    def effective_batch(self) -> int:
        """Samples per optimiser step (what the references call the total batch over their GPUs)."""
        return self.batch_size * self.accumulate

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> TrainConfig:
        if self.stage not in ("esrnet", "aesrgan"):
            raise ValueError(f"stage {self.stage!r}: choose esrnet or aesrgan")
        if self.network.disc not in ("multi", "single"):
            raise ValueError(f"discriminator {self.network.disc!r}: choose multi or single")
        if self.gt_size % 4 or self.gt_size < 16:
            raise ValueError("gt_size must be a multiple of 4, at least 16")
        if self.degrade_size % 4 or self.degrade_size < self.gt_size:
            raise ValueError(f"degrade_size {self.degrade_size}: must be a multiple of 4 and at least gt_size "
                             f"({self.gt_size})")
        if self.flips not in FLIPS:
            raise ValueError(f"flips {self.flips!r}: choose {', '.join(FLIPS)}")
        if not _positive_whole(self.batch_size):
            raise ValueError(f"batch_size {self.batch_size!r}: must be a whole number >= 1")
        if not _positive_whole(self.accumulate):
            raise ValueError(f"accumulate {self.accumulate!r}: must be a whole number >= 1 (1 = no accumulation)")
        if type(self.deterministic) is not bool:
            raise ValueError(f"deterministic {self.deterministic!r}: must be true or false")
        if self.pool_size and self.pool_size % self.batch_size:
            raise ValueError("pool_size must be a multiple of batch_size (or 0)")
        if self.checkpoint_every <= 0 or self.segment_iters % self.checkpoint_every:
            raise ValueError("segment_iters must be a multiple of checkpoint_every")
        if self.amp not in ("off", "bf16"):
            raise ValueError(f"amp {self.amp!r}: choose off or bf16")
        if self.stage == "esrnet" and (self.loss.gan_weight or self.loss.perceptual_weight):
            raise ValueError("the esrnet stage is L1 only: set perceptual and GAN weights to 0")
        self.degradation.validate()
        return self


def _positive_whole(value: Any) -> bool:
    return type(value) is int and value >= 1  # bool is an int subclass: true is not a batch size


def _build(cls, data: dict[str, Any], path: str = ""):
    """A dataclass from nested dicts; any key the dataclass does not have is an error."""
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown config key(s) {', '.join(path + k for k in unknown)}")
    values = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        values[name] = _build(type(default), value, f"{path}{name}.") if is_dataclass(default) else value
    return cls(**values)


def merge(base: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    merged = asdict(base)

    def deep(target: dict, source: dict, path: str) -> None:
        for key, value in source.items():
            if key not in target:
                raise ValueError(f"unknown config key {path}{key}")
            if isinstance(target[key], dict) and isinstance(value, dict):
                deep(target[key], value, f"{path}{key}.")
            else:
                target[key] = value

    deep(merged, overrides, "")
    return _build(TrainConfig, merged).validate()


def legacy_values(data: dict[str, Any]) -> dict[str, Any]:
    """For a stored config that predates a key: the value that reproduces how that run trained.

    A run stored before these keys existed degraded its gt_size crop itself, drew all eight
    flips and transposes, and stepped once per batch; it resumes that way rather than switching
    to the new defaults halfway through.
    """
    return {"degrade_size": data.get("gt_size", TrainConfig.gt_size), "flips": "all", "accumulate": 1,
            "deterministic": False}


def from_json(data: dict[str, Any]) -> TrainConfig:
    """A stored, resolved config (a run's or a checkpoint's) back as a TrainConfig."""
    data = {**legacy_values(data), **data}
    return _build(TrainConfig, data).validate()


# The presets. Stage 2 starts from stage 1's EMA generator (init_from = "run:<id>", set at submit).
# esrnet and aesrgan-multi take the references' numbers (docs/training-reference.md): 12 per
# forward pass x 4 accumulated = the 48 per step of 12 per GPU on 4 GPUs.
PRESETS: dict[str, dict[str, Any]] = {
    "esrnet": {"stage": "esrnet", "optim": {"lr_g": 2e-4, "milestones": [1_000_000]}, "total_iter": 1_000_000},
    "aesrgan-multi": {
        "stage": "aesrgan", "total_iter": 400_000,
        "loss": {"pixel_weight": 1.0, "perceptual_weight": 1.0, "gan_weight": 0.1},
        "optim": {"lr_g": 1e-4, "lr_d": 1e-4, "milestones": [400_000]},
    },
    # The study's two runs, kept as presets so they can be reproduced and compared: the loss
    # weights, iterations and learning rates are the study's. Its commands run A-ESRGAN's
    # train.py as one process, without a distributed launcher: one GPU, so one batch per step
    # (accumulate 1). It states no batch size; 12 is the references' per-GPU batch. Crops, flips
    # and degradations were A-ESRGAN's code, unchanged: the defaults.
    "study-training1": {
        "stage": "aesrgan", "total_iter": 150_000, "accumulate": 1,
        "loss": {"pixel_weight": 2.0, "perceptual_weight": 1.0, "gan_weight": 0.2},
        "optim": {"lr_g": 1e-4, "lr_d": 1e-4, "milestones": [150_000]},
    },
    "study-training2": {
        "stage": "aesrgan", "total_iter": 280_000, "accumulate": 1,
        "loss": {"pixel_weight": 1.0, "perceptual_weight": 1.0, "gan_weight": 0.1},
        "optim": {"lr_g": 5e-5, "lr_d": 5e-5, "milestones": [280_000]},
    },
}


def preset(name: str, overrides: dict[str, Any] | None = None) -> TrainConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return merge(merge(TrainConfig(), PRESETS[name]), overrides or {})


def load_file(path: Path) -> dict[str, Any]:
    """Overrides from a JSON file (YAML too, when the file ends in .yml/.yaml)."""
    text = path.read_text()
    if path.suffix in (".yml", ".yaml"):
        import yaml

        return yaml.safe_load(text) or {}
    return json.loads(text)


def differences(a: dict[str, Any], b: dict[str, Any], path: str = "") -> list[tuple[str, Any, Any]]:
    """(key, a's value, b's value) for every leaf that differs between two resolved configs."""
    out = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differences(va, vb, f"{path}{key}.")
        elif va != vb:
            out.append((f"{path}{key}", va, vb))
    return out


