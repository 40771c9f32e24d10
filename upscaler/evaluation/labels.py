"""Labels on sheet cells: wrapped to the cell's width, never cut.

A comparison is read by its labels: models whose names differ only at the end
(``...-fabric-v2``, ``...-fabric-v3``) must stay told apart, so a label too long for its cell
goes on more lines instead of losing its end.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
MARGIN = 3   # px left of and above the text


def text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, FONT, scale, 1)[0][0]


def wrap_label(text: str, width: int, scale: float) -> list[str]:
    """``text`` in lines no wider than ``width`` px at font ``scale``, broken after a separator
    (``-_./ +:,``) where one fits, else between characters: every character is kept."""
    lines: list[str] = []
    line = ""
    for piece in (p for p in re.split(r"(?<=[-_./ +:,])", text) if p):
        if text_width(line + piece, scale) <= width:
            line += piece
            continue
        if line:
            lines.append(line)
            line = ""
        for char in piece:   # a piece wider than a line: broken between characters
            if line and text_width(line + char, scale) > width:
                lines.append(line)
                line = ""
            line += char
    if line:
        lines.append(line)
    return lines


def label_height(line_count: int, line_px: int) -> int:
    return line_px * line_count + 2 * MARGIN


def draw_label(tile: np.ndarray, lines: list[str], scale: float, line_px: int) -> None:
    """Write ``lines`` (from :func:`wrap_label`) at the top of ``tile``, in black."""
    for index, text in enumerate(lines):
        cv2.putText(tile, text, (MARGIN, MARGIN + line_px * (index + 1) - 3), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
