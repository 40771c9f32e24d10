"""The board-ready step of a job: its parameters to ``upscaler.board``'s options, run on the
upscaled pixels (``upscaler upscale`` and the queue workers alike, through ``processing.py``).

It runs on the output, not the input: made a tile before the network, the image would need the
network's wrap-around padding to stay one (several times the network's work on a small photo,
see docs/materials.md), where the cuts on the output cost a few percent of the job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from upscaler.jobspec import BoardRequest


@dataclass
class BoardStep:
    """What the step made of a job's image: the report (``upscaler.board.BoardReport.as_dict``,
    with ``ms``, the milliseconds it took), the warnings to record, and how the material set
    is to be made from it."""

    report: dict
    warnings: list[str] = field(default_factory=list)
    tileable: bool = False                       # the pixels are now a tile: maps with wrap-around
    size_mm: tuple[float, float] | None = None   # the real size the (cropped) image covers


def board_options(request: BoardRequest, category: str | None):
    """The job's board request as ``upscaler.board.BoardOptions``."""
    from upscaler.board import BoardOptions, parse_repeat

    return BoardOptions(make_tileable=request.make_tileable,
                        repeat=None if request.repeat is None else parse_repeat(request.repeat),
                        width_mm=request.width_mm, category=category or "other")


def make_ready(pixels: np.ndarray, request: BoardRequest, category: str | None) -> tuple[np.ndarray, BoardStep]:
    """``pixels`` made board-ready as ``request`` asks (a tile, whole repeats, the real size, the PBR
    check). Bad input (too small, no texture, no period) is a warning and the plainest result,
    never an exception: see ``upscaler.board.make_board_ready``."""
    from upscaler.board import make_board_ready

    start = time.perf_counter()
    out, report = make_board_ready(pixels, board_options(request, category))
    record = report.as_dict()
    record["ms"] = round((time.perf_counter() - start) * 1000)
    size = tuple(report.size_mm) if report.size_mm else None
    return out, BoardStep(record, list(report.warnings), report.tileable, size)  # type: ignore[arg-type]
