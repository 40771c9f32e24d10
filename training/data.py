"""Training samples from a prepared dataset: random GT crops, flips, kernels.

Each sample is a ``degrade_size`` crop (400 px, as Real-ESRGAN's dataset cuts it); the
degradation runs on that, and the ``gt_size`` training pair is cut from the result afterwards
(:func:`training.degradations.paired_random_crop`), so the blur kernels' padding at the crop's
edges rarely reaches a pair. Loading runs in the training process and draws only from the
global RNGs that checkpoints save, so the sample sequence after a resume is the one an
uninterrupted run would have seen.
"""

from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from training.config import FLIPS, DegradationConfig
from training.degradations import sample_kernels
from upscaler.errors import ErrorCode, PermanentError


class CropDataset:
    def __init__(self, root: Path, held_back: int = 0) -> None:
        meta = root / "meta_info.txt"
        if not meta.is_file():
            raise PermanentError(f"{root}: no meta_info.txt; run `upscaler train prepare` first", code=ErrorCode.bad_dataset)
        names = [line.strip() for line in meta.read_text().splitlines() if line.strip()]
        if len(names) <= held_back:
            raise PermanentError(f"{root}: {len(names)} crops, need more than the {held_back} held back",
                                 code=ErrorCode.bad_dataset)
        self.root = root
        # The last crops are held back for validation, the rest are trained on.
        self.train_names = names[: len(names) - held_back]
        self.val_names = names[len(names) - held_back :]
        self._load = lru_cache(maxsize=2048)(self._read)

    def _read(self, name: str) -> np.ndarray:
        image = cv2.imread(str(self.root / name), cv2.IMREAD_COLOR)
        if image is None:
            raise PermanentError(f"{self.root / name}: unreadable training crop", code=ErrorCode.bad_dataset)
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0

    def gt_crop(self, name: str, size: int, flips: str = "horizontal") -> torch.Tensor:
        """A random ``size`` x ``size`` crop of one training image (3,H,W, RGB, 0..1).

        ``flips``: "horizontal" mirrors half the crops left-right (the references' only
        augmentation); "all" also flips vertically and transposes, each with probability 1/2;
        "none" keeps the crop as it is.
        """
        if flips not in FLIPS:
            raise ValueError(f"flips {flips!r}: choose {', '.join(FLIPS)}")
        image = self._load(name)
        h, w = image.shape[:2]
        if h < size or w < size:  # small crops are padded by reflection, as Real-ESRGAN does
            image = cv2.copyMakeBorder(image, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
            h, w = image.shape[:2]
        y, x = random.randint(0, h - size), random.randint(0, w - size)
        patch = image[y : y + size, x : x + size]
        if flips != "none" and random.random() < 0.5:
            patch = patch[:, ::-1]
        if flips == "all":
            if random.random() < 0.5:
                patch = patch[::-1]
            if random.random() < 0.5:
                patch = patch.transpose(1, 0, 2)
        return torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1)

    def sample(self, batch_size: int, size: int, cfg: DegradationConfig,
               flips: str = "horizontal") -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """A batch of ``size`` px GT crops (the ones to degrade) and the kernels of the
        configured degradation preset, each stacked over the batch."""
        indices = torch.randint(len(self.train_names), (batch_size,)).tolist()
        gts, kernels = [], []
        for index in indices:
            gts.append(self.gt_crop(self.train_names[index], size, flips))
            kernels.append(sample_kernels(cfg))
        return torch.stack(gts), tuple(torch.stack(k) for k in zip(*kernels))
