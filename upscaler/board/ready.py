"""One call for the job: pixels in, board-ready pixels and a report out.

    out, report = make_board_ready(pixels, BoardOptions(make_tileable=True, repeat="auto",
                                                        width_mm=600, category="fabric"))
    report.as_dict()   # JSON: warnings, sizes, crop, period, real size, PBR check

Bad input is never an exception: an image too small to cut, one without texture, a pattern
without a period, a base colour outside the PBR range each add a warning to the report and the
image comes back as plain as the case allows (unchanged, or made tileable without whole
repeats). Only a programming error (an array that is not an image) raises ValueError.
"""

from __future__ import annotations

import cv2
import numpy as np

from upscaler.board.lighting import subtract_quadratic
from upscaler.board.options import BoardOptions, BoardReport
from upscaler.board.pbr import check_pbr
from upscaler.board.period import Period, find_periods
from upscaler.board.tileable import MIN_SIDE, AxisLayout, make_tile
from upscaler.materials.maps import luminance

TEXTURE_FLOOR = 0.03   # 0.5-99.5 percentile spread of the detrended, high-passed luminance (0..1)
TEXTURE_SIZE = 256     # px: the texture check looks at a copy area-averaged to this size


def make_board_ready(pixels: np.ndarray, options: BoardOptions = BoardOptions()) -> tuple[np.ndarray, BoardReport]:
    """``pixels``: HxW gray, HxWx3 BGR or HxWx4 BGRA, uint8 or uint16, sRGB (as the image I/O
    hands them around; not modified). Returns the board-ready pixels (same layout and type; a
    new array when anything changed, else ``pixels`` itself) and what was done."""
    if pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or (
            pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
        raise ValueError(f"pixels must be HxW, HxWx3 or HxWx4 uint8/uint16, not {pixels.shape} {pixels.dtype}")
    height, width = pixels.shape[:2]
    report = BoardReport(input_size=[width, height], output_size=[width, height])
    out = _make_tileable(pixels, options, report) if options.tileable else pixels
    report.output_size = [out.shape[1], out.shape[0]]
    if options.width_mm is not None:
        mm_per_px = options.width_mm / width
        report.size_mm = [round(out.shape[1] * mm_per_px, 3), round(out.shape[0] * mm_per_px, 3)]
        if report.period_px is not None:
            report.period_mm = [None if p is None else round(p * mm_per_px, 3) for p in report.period_px]
    check = check_pbr(out, options.category)
    report.pbr = check.as_dict()
    warning = check.warning()
    if warning:
        report.warnings.append(warning)
    return out, report


def _make_tileable(pixels: np.ndarray, options: BoardOptions, report: BoardReport) -> np.ndarray:
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_SIDE:
        report.warnings.append(f"image too small to make tileable ({width}x{height} px; a cut needs at least "
                               f"{MIN_SIDE} px a side): returned as it is")
        return pixels
    if not has_texture(pixels):
        report.warnings.append("the image has almost no texture (flat colour?): not made tileable, returned as it is")
        return pixels
    rows, cols = AxisLayout.plain(height), AxisLayout.plain(width)
    report.method = "cut"
    if options.repeat is not None:
        rows, cols = _repeat_layouts(pixels, options, report, rows, cols)
    result = make_tile(pixels, rows, cols)
    (y, kept_h), (x, kept_w) = rows.kept(result.origin[0]), cols.kept(result.origin[1])
    report.tileable = True
    report.crop = {"x": x, "y": y, "width": kept_w, "height": kept_h}
    report.crop_fraction = [round(1 - kept_w / width, 4), round(1 - kept_h / height, 4)]
    report.seam_cost = round(result.seam_cost, 5)
    report.light_correction = round(result.light_correction, 4)
    return result.pixels


def _repeat_layouts(pixels: np.ndarray, options: BoardOptions, report: BoardReport, rows: AxisLayout,
                    cols: AxisLayout) -> tuple[AxisLayout, AxisLayout]:
    """The tile's layout on each axis from the pattern's period; the plain layout (and a warning)
    on an axis where none was found or none fits."""
    height, width = pixels.shape[:2]
    counts = (None, None) if options.repeat == "auto" else options.repeat   # (across, down)
    near = (None, None) if counts == (None, None) else (height / counts[1], width / counts[0])
    down, across = find_periods(pixels, near)
    found: list[Period | None] = [across, down]
    layouts, repeats = [cols, rows], [None, None]
    for i, (axis, size) in enumerate((("across", width), ("down", height))):
        if counts[i] == 1:   # the user says it does not repeat that way
            found[i] = None
            continue
        period = found[i]
        fitted = None if period is None else AxisLayout.repeats(size, period.px, options.smallest_repeat)
        if fitted is None:
            why = "no repeat found" if period is None else f"its repeat ({period.px:.1f} px) does not fit twice"
            report.warnings.append(f"{why} {axis}: made tileable {axis} by a cut, without whole repeats")
            continue
        layouts[i], repeats[i] = fitted
    if any(r is not None for r in repeats):
        report.method = "repeat"
    report.period_px = [None if p is None else round(p.px, 3) for p in found]
    report.period_correlation = [None if p is None else round(p.correlation, 3) for p in found]
    report.repeats = [r or 0 for r in repeats]
    return layouts[1], layouts[0]


def has_texture(pixels: np.ndarray) -> bool:
    """Whether the image shows any texture: the 0.5-99.5 percentile spread of its luminance, less
    a fitted quadratic (light) and a Gaussian blur of 1/16 of the side (shading), reaches
    TEXTURE_FLOOR (about 8 levels of 8 bits), on a copy area-averaged to TEXTURE_SIZE px (which
    also averages away sensor noise)."""
    lum = luminance(pixels)
    height, width = lum.shape
    factor = max(1.0, max(height, width) / TEXTURE_SIZE)
    if factor > 1:
        lum = cv2.resize(lum, (max(2, round(width / factor)), max(2, round(height / factor))),
                         interpolation=cv2.INTER_AREA)
    rest = subtract_quadratic(lum).astype(np.float32)
    h, w = rest.shape
    high = rest - cv2.GaussianBlur(rest, (0, 0), max(h, w) / 16, borderType=cv2.BORDER_REFLECT)
    lo, hi = np.percentile(high, [0.5, 99.5])
    return float(hi - lo) >= TEXTURE_FLOOR
