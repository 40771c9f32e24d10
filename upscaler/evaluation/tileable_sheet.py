"""``compare --make-tileable``: each output tiled 2x2 before and after make-tileable, per category.

A tiling shows what a material board shows: a supplier's photo has a seam at every repeat, the
tile made from it (``upscaler.board``) should have none. One row per image and model, grouped by
category: the output tiled 2x2, then its tile tiled 2x2, each shrunk to a cell, with the wrap-seam
score of each (1.0 = as invisible as any boundary inside; ``wrap_seam_score``) and what the step
warned about. The same layout as the docs sheet (docs/tileable-sheet.png, bench/tileable.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from upscaler.evaluation.image_metrics import wrap_seam_score
from upscaler.evaluation.labels import MARGIN, draw_label, label_height, wrap_label

SHEET_CELL = 192   # px: each 2x2 tiling is shrunk to this
LABEL_SCALE, LABEL_LINE = 0.33, 12


@dataclass
class TiledPair:
    category: str
    name: str
    model: str
    before: np.ndarray                 # the output (BGR, 8 bit)
    after: np.ndarray                  # the tile made from it
    report: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"category": self.category, "name": self.name, "model": self.model,
                "seam_score_before": round(wrap_seam_score(self.before), 4),
                "seam_score_after": round(wrap_seam_score(self.after), 4),
                "tileable": self.report.get("tileable", False), "crop_fraction": self.report.get("crop_fraction"),
                "warnings": self.report.get("warnings", [])}


def make_pairs(outputs: list[tuple[str, str, str, np.ndarray]]) -> list[TiledPair]:
    """(category, name, model, BGR output) -> before/after pairs, grouped by category."""
    from upscaler.board import BoardOptions, make_board_ready

    pairs = []
    for category, name, model, before in sorted(outputs, key=lambda o: (o[0], o[1], o[2])):
        after, report = make_board_ready(before, BoardOptions(make_tileable=True, category=category))
        pairs.append(TiledPair(category, name, model, before, after, report.as_dict()))
    return pairs


def cell_label(lines: tuple[str, ...]) -> list[str]:
    """A cell's label lines, each wrapped to the cell (never cut)."""
    return [part for line in lines for part in wrap_label(line, SHEET_CELL - 2 * MARGIN, LABEL_SCALE)]


def tiled_cell(image: np.ndarray, lines: tuple[str, ...], label_lines: int | None = None) -> np.ndarray:
    """``image`` tiled 2x2 under its label; ``label_lines``: the room left for the label, in lines
    (default: what it needs), so that the cells of one row line up."""
    wrapped = cell_label(lines)
    header = label_height(max(label_lines or 0, len(wrapped)), LABEL_LINE)
    tiled = np.tile(image, (2, 2, 1))
    small = cv2.resize(tiled, (SHEET_CELL, SHEET_CELL), interpolation=cv2.INTER_AREA)
    out = np.full((SHEET_CELL + header, SHEET_CELL, 3), 255, np.uint8)
    out[header:] = small
    draw_label(out, wrapped, LABEL_SCALE, LABEL_LINE)
    return np.pad(out, ((0, 4), (0, 4), (0, 0)), constant_values=255)


def tileable_sheet(pairs: list[TiledPair]) -> np.ndarray:
    """One row per pair: before (tiled 2x2) and after (tiled 2x2), labelled with the seam scores."""
    rows = []
    for pair in pairs:
        scores = pair.as_dict()
        after_label = (f"made tileable, seam {scores['seam_score_after']:.2f}" if scores["tileable"]
                       else "not made tileable (see warnings)")
        before = (f"{pair.category}/{pair.name}: tiled 2x2", f"{pair.model}, seam {scores['seam_score_before']:.2f}")
        after = (after_label, "tiled 2x2")
        lines = max(len(cell_label(before)), len(cell_label(after)))
        rows.append(np.hstack([tiled_cell(pair.before, before, lines), tiled_cell(pair.after, after, lines)]))
    width = max(row.shape[1] for row in rows)
    return np.vstack([np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows])
