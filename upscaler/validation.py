"""Checks on upscaling parameters shared by the engine's options and the stored job parameters
(kept free of torch imports so that the producer can validate a request cheaply)."""

from __future__ import annotations

from upscaler.errors import InvalidParameters

ALPHA_MODES = ("bicubic", "model")


def check_upscale_params(tile: int, tile_pad: int, outscale: float, alpha: str) -> None:
    if tile < 0 or tile_pad < 0:
        raise InvalidParameters("tile and tile_pad must be >= 0")
    if not 0 < outscale <= 16:
        raise InvalidParameters(f"outscale {outscale} must be in (0, 16]")
    if alpha not in ALPHA_MODES:
        raise InvalidParameters(f"alpha mode {alpha!r}: choose bicubic or model")


def check_quality(quality: int) -> None:
    if not 1 <= quality <= 100:
        raise InvalidParameters(f"quality {quality} must be within 1-100")
