"""Tiny training configs and datasets that run in seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.models import vgg19

from tests.support import SAMPLES

# Degrades 80 px crops and cuts 64 px pairs from them; one batch of 2 per step (tests that
# need accumulation ask for it), so the pool of 4 is full after two steps.
TINY = {
    "gt_size": 64, "degrade_size": 80, "batch_size": 2, "accumulate": 1, "pool_size": 4, "validate_pairs": 2,
    "seed": 7,
    "network": {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "disc_feat": 8},
}


def tiny_overrides(total: int, checkpoint_every: int, segment: int, **extra) -> dict:
    return {**TINY, "total_iter": total, "checkpoint_every": checkpoint_every, "segment_iters": segment, **extra}


def source_images(folder: Path) -> Path:
    """The bundled textures plus two images the flat filter must remove."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in SAMPLES.glob("*.png"):
        (folder / path.name).write_bytes(path.read_bytes())
    cv2.imwrite(str(folder / "plain beige.png"), np.full((200, 240, 3), (170, 200, 220), np.uint8))
    gradient = np.tile(np.linspace(40, 220, 240).astype(np.uint8), (200, 1))
    cv2.imwrite(str(folder / "smooth gradient.jpg"), cv2.cvtColor(gradient, cv2.COLOR_GRAY2BGR))
    return folder


def random_vgg_file(path: Path) -> Path:
    """Random VGG19 feature weights in torchvision's key layout (tests only: no real weights here)."""
    torch.manual_seed(0)
    features = vgg19(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, path)
    return path


def prepared_dataset(root: Path) -> Path:
    """The bundled textures cut into a small training set (96 px crops) under ``root``."""
    from training.prepare import prepare

    out = root / "prepared"
    prepare(str(source_images(root / "src")), out, crop=96, step=64)
    return out
