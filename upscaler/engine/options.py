"""What the engine is asked to do with one image: the only request type the engine sees.

A job's output format, colour space and material maps are not here (upscaler/jobspec.py composes
them with these into a job's request): the engine turns sRGB pixels into bigger ones and knows
nothing of files, colour profiles or the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from upscaler.errors import InvalidParameters
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD
from upscaler.validation import check_upscale_params
from upscaler.zoo.names import DEFAULT_MODEL, TEXTURE_MODEL


@dataclass(frozen=True)
class EngineOptions:
    model: str = DEFAULT_MODEL
    tile: int = DEFAULT_TILE          # tile edge in input pixels; 0 = whole image
    tile_pad: int = DEFAULT_TILE_PAD  # context in input pixels around each tile, cross-faded
    outscale: float = 4.0             # final factor; the network's own scale is resampled to it
    alpha: Literal["bicubic", "model"] = "bicubic"  # how an alpha channel is enlarged
    seamless: bool = False        # tileable input -> tileable output: wrap-around context at the borders
    preserve_color: bool = False  # keep the input's low-frequency colour (see engine/preserve_color.py)
    batch_size: int | None = None  # tiles per forward pass; None = sized from the device
    # Texture detail: each tile batch runs through ``model`` and ``detail_model`` and their outputs
    # are mixed (1 - detail) : detail before the rows are assembled (engine/tile_runs.py). 0 = the
    # model alone, 1 = the detail model alone. Material profiles choose it (upscaler/profiles.py).
    detail: float = 0.0
    detail_model: str = TEXTURE_MODEL

    def __post_init__(self) -> None:
        check_upscale_params(self.tile, self.tile_pad, self.outscale, self.alpha)
        if self.batch_size is not None and self.batch_size < 1:
            raise InvalidParameters("batch_size must be >= 1")
        if not 0.0 <= self.detail <= 1.0:
            raise InvalidParameters(f"detail {self.detail}: choose a number from 0 to 1")
        object.__setattr__(self, "detail", float(self.detail))
