"""What a job asks of a board-ready material, and what it got back (JSON-able)."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Literal, Union

from upscaler.errors import InvalidParameters
from upscaler.materials.names import known_category

# The smallest tile that repeats is what a textile's pattern is sold by (a fabric's or a
# wallpaper's repeat, a carpet's motif); other materials keep as many whole repeats as the photo
# holds, so that a tile grid or a brick bond keeps the variation between its units.
SMALLEST_REPEAT = frozenset({"fabric", "carpet", "wallpaper"})

Repeat = Union[Literal["auto"], tuple[int, int], None]


def parse_repeat(text: str) -> Repeat:
    """``"auto"`` or ``"NxM"`` (N repeats across, M down, each at least 1) as a BoardOptions.repeat;
    InvalidParameters naming the text otherwise."""
    value = text.strip().lower()
    if value == "auto":
        return "auto"
    match = re.fullmatch(r"(\d+)\s*[x×]\s*(\d+)", value)
    if not match:
        raise InvalidParameters(f"repeat {text!r}: give 'auto' or NxM (repeats across x down, e.g. 4x3)")
    return int(match.group(1)), int(match.group(2))


@dataclass(frozen=True)
class BoardOptions:
    """How to make an image ready for a material board.

    make_tileable: turn the image into a tile (cuts through its own content, see tileable.py).
    repeat: the pattern repeats: ``"auto"`` finds its period; ``(n, m)`` says the photo shows
        about n repeats across and m down (the period is then looked for near width / n and
        height / m; 1 = no repeat along that axis). Either way the tile is cut to whole repeats
        and implies make_tileable. None: no repeat is looked for.
    width_mm: the real width the photo covers, in millimetres (its height follows from the pixel
        aspect); None when unknown.
    category: the material (wood, fabric, metal, ...): textiles are cut to their smallest repeat,
        metals are checked against the metal range.
    """

    make_tileable: bool = False
    repeat: Repeat = None
    width_mm: float | None = None
    category: str = "other"

    def __post_init__(self) -> None:
        if self.repeat is not None and self.repeat != "auto":
            if (not isinstance(self.repeat, tuple) or len(self.repeat) != 2
                    or not all(isinstance(n, int) and n >= 1 for n in self.repeat)):
                raise InvalidParameters(f"repeat must be 'auto', (across, down) counts of at least 1, or None; "
                                 f"not {self.repeat!r}")
        if self.width_mm is not None and not (math.isfinite(self.width_mm) and self.width_mm > 0):
            raise InvalidParameters(f"width_mm must be a positive number of millimetres, not {self.width_mm!r}")

    @property
    def tileable(self) -> bool:
        return self.make_tileable or self.repeat is not None

    @property
    def smallest_repeat(self) -> bool:
        return known_category(self.category) in SMALLEST_REPEAT


@dataclass
class BoardReport:
    """What ``make_board_ready`` did, for the job's record (``as_dict`` is JSON-able).

    Sizes are ``[width, height]`` in px; ``crop`` is the box of the input the output shows
    (``x, y, width, height``; its edges are remade by the cuts); ``period_px`` the repeat found
    ``[across, down]`` (None where there was none) and ``repeats`` how many of them the tile
    holds; ``*_mm`` the same in millimetres when the width was given.
    """

    input_size: list[int]
    output_size: list[int]
    warnings: list[str] = field(default_factory=list)
    tileable: bool = False
    method: str | None = None            # "cut" (make-tileable) or "repeat" (whole repeats, then cut)
    crop: dict[str, int] | None = None
    crop_fraction: list[float] | None = None   # share of the input's width / height left out
    seam_cost: float | None = None       # mean mismatch the cuts crossed (0 = the copies agreed)
    light_correction: float | None = None  # largest brightness change the mismatch field made (0.05 = 5%)
    period_px: list[float | None] | None = None
    period_correlation: list[float | None] | None = None
    repeats: list[int] | None = None
    period_mm: list[float | None] | None = None
    size_mm: list[float] | None = None   # the output's real size, [width, height]
    pbr: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)
