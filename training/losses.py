"""Losses: L1, VGG19 perceptual (weights from a local file, never downloaded), vanilla GAN."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg19

from upscaler.errors import ErrorCode, PermanentError

# Index in torchvision's vgg19().features of each conv layer we read (before its ReLU), and
# its weight in the perceptual loss (Real-ESRGAN's settings).
VGG_LAYERS = {"conv1_2": (2, 0.1), "conv2_2": (7, 0.1), "conv3_4": (16, 1.0), "conv4_4": (25, 1.0),
              "conv5_4": (34, 1.0)}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PerceptualLoss(nn.Module):
    """Sum over VGG_LAYERS of weight * L1(features(sr), features(gt)), ImageNet-normalised input.

    ``weights_path`` is a torchvision ``vgg19`` state dict (``vgg19-dcbb9e9d.pth``), or only its
    ``features.*`` entries (the classifier is never used); with ``allow_random`` (tests only) an
    empty path means random weights.
    """

    def __init__(self, weights_path: str, allow_random: bool = False) -> None:
        super().__init__()
        net = vgg19(weights=None)
        if weights_path:
            path = Path(weights_path)
            if not path.is_file():
                raise PermanentError(f"VGG19 weights {path} not found: copy torchvision's vgg19-dcbb9e9d.pth there "
                                     "(nothing is downloaded at run time)", code=ErrorCode.missing_weights)
            state = torch.load(path, map_location="cpu", weights_only=True)
            features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            try:
                net.features.load_state_dict(features, strict=True)
            except RuntimeError as exc:
                raise PermanentError(f"{path}: not torchvision vgg19 weights: {exc}", code=ErrorCode.bad_model_file) from exc
        elif not allow_random:
            raise PermanentError("perceptual loss needs loss.vgg_weights: a local torchvision vgg19 .pth",
                                 code=ErrorCode.missing_weights)
        last = max(index for index, _ in VGG_LAYERS.values())
        self.features = net.features[: last + 1].eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _features(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        wanted = {index for index, _ in VGG_LAYERS.values()}
        out, x = {}, (x - self.mean) / self.std
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                # A copy: the next layer is torchvision's in-place ReLU, which would otherwise
                # clip the stored conv output at 0 (reading it after the ReLU, not before).
                out[index] = x.clone()
        return out

    def forward(self, sr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        fs, fg = self._features(sr), self._features(gt.detach())
        return sum(weight * F.l1_loss(fs[index], fg[index]) for index, weight in VGG_LAYERS.values())


def gan_loss(outputs: list[torch.Tensor], real: bool) -> torch.Tensor:
    """Vanilla GAN loss (BCE with logits), summed over the discriminator's scales."""
    target = 1.0 if real else 0.0
    return sum(F.binary_cross_entropy_with_logits(o, torch.full_like(o, target)) for o in outputs)
