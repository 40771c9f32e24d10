"""How far a pattern repeats along each axis: its period, to a fraction of a pixel.

A printed wallpaper, a woven fabric, a tile grid or a brick bond repeats: shifted by its period,
the image matches itself. For every shift ``s`` along one axis, the luminance is correlated
with itself shifted by ``s`` (Pearson, over the part that overlaps: the autocorrelation,
computed for all shifts at once by FFT); the period is the first strong peak of that curve.

- Light: a fitted quadratic surface is subtracted first, so a light ramp across the photo does
  not correlate with itself at every shift.
- The fundamental, not a multiple: of the peaks at least ``MIN_CORRELATION`` high and
  ``MIN_PROMINENCE`` above the valley before them, the smallest shift whose correlation is
  within ``FUNDAMENTAL_SHARE`` of the best peak's. (A brick bond, whose courses are offset by
  half a brick, matches itself fully only every second course: that is its period down.)
- Sub-pixel: each peak's top is fitted with a parabola through its three samples, and the
  peaks at 2, 3, ... periods (as long as a quarter of the image still overlaps) are found too;
  the period is the least-squares slope through them, so its error shrinks with each repeat.
- Large images are measured on a copy area-averaged to ``DETECT_SIZE`` px (periods scale
  back exactly).

At least two repeats must be visible along an axis (the period at most half the side).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import signal

from upscaler.board.lighting import subtract_quadratic
from upscaler.materials.maps import luminance

DETECT_SIZE = 1024        # px: longer side of the copy the periods are measured on
MIN_PERIOD = 4            # px (of that copy): shorter repeats are texture grain, not a pattern
MIN_CORRELATION = 0.3     # a repeat must correlate at least this well with itself
MIN_PROMINENCE = 0.2      # ... and this much above the valley before its peak
FUNDAMENTAL_SHARE = 0.9   # the fundamental: the first peak within this share of the best
HARMONIC_OVERLAP = 0.25   # harmonics are used while this share of the side still overlaps


@dataclass(frozen=True)
class Period:
    """A repeat along one axis: ``px`` pixels (sub-pixel), ``correlation`` how well the image
    matches itself shifted by it (Pearson, 0..1)."""

    px: float
    correlation: float


def find_periods(pixels: np.ndarray, near: tuple[float | None, float | None] = (None, None)
                 ) -> tuple[Period | None, Period | None]:
    """(down, across): the period along the rows' direction (y) and the columns' (x), each None
    when no repeat was found. ``near``: expected periods in px (y, x), e.g. from a count of
    repeats the user gave; then only peaks within 25% of them are considered."""
    lum = luminance(pixels).astype(np.float64)
    height, width = lum.shape
    factor = max(1.0, max(height, width) / DETECT_SIZE)
    if factor > 1:
        lum = cv2.resize(lum, (max(2, round(width / factor)), max(2, round(height / factor))),
                         interpolation=cv2.INTER_AREA)
    lum = subtract_quadratic(lum)
    scale_y, scale_x = height / lum.shape[0], width / lum.shape[1]
    down = _axis_period(lum.T, None if near[0] is None else near[0] / scale_y)
    across = _axis_period(lum, None if near[1] is None else near[1] / scale_x)
    return (None if down is None else Period(down.px * scale_y, down.correlation),
            None if across is None else Period(across.px * scale_x, across.correlation))


def shift_correlation(plane: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``plane`` with itself shifted by s columns, for s = 0 .. width - 1
    (over the columns that overlap); NaN where the overlap has no variance."""
    h, w = plane.shape
    spectrum = np.fft.rfft(plane, n=2 * w, axis=1)
    products = np.fft.irfft(np.abs(spectrum) ** 2, n=2 * w, axis=1)[:, :w].sum(axis=0)  # sum_x p(x) p(x+s)
    col = np.concatenate([[0.0], np.cumsum(plane.sum(axis=0))])
    col2 = np.concatenate([[0.0], np.cumsum((plane**2).sum(axis=0))])
    shifts = np.arange(w)
    n = h * (w - shifts)
    first, first2 = col[w - shifts], col2[w - shifts]            # columns [0, w - s)
    second, second2 = col[w] - col[shifts], col2[w] - col2[shifts]  # columns [s, w)
    cov = products / n - first * second / n**2
    var1, var2 = first2 / n - (first / n) ** 2, second2 / n - (second / n) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt(var1 * var2)


def _axis_period(plane: np.ndarray, near: float | None) -> Period | None:
    """The period along axis 1 of ``plane`` (px of it), or None."""
    width = plane.shape[1]
    corr = np.nan_to_num(shift_correlation(plane), nan=0.0)
    lo, hi = MIN_PERIOD, width // 2
    if near is not None:
        lo, hi = max(lo, int(near * 0.75)), min(hi, int(np.ceil(near * 1.25)))
    if hi - lo < 2:
        return None
    peaks, props = signal.find_peaks(corr[:hi + 2], height=MIN_CORRELATION, prominence=MIN_PROMINENCE)
    keep = (peaks >= lo) & (peaks <= hi)
    peaks, heights = peaks[keep], props["peak_heights"][keep]
    if peaks.size == 0:
        return None
    best = heights.max()
    first = int(peaks[np.argmax(heights >= FUNDAMENTAL_SHARE * best)])
    period = _refine(corr, first)
    return Period(period, float(corr[first]))


def _vertex(corr: np.ndarray, i: int) -> float:
    """Sub-pixel position of the top of the peak at sample ``i`` (a parabola through 3 samples)."""
    if i <= 0 or i >= len(corr) - 1:
        return float(i)
    left, mid, right = corr[i - 1], corr[i], corr[i + 1]
    curve = left - 2 * mid + right
    return float(i) if curve >= 0 else i + 0.5 * (left - right) / curve


def _refine(corr: np.ndarray, first: int) -> float:
    """The period through the peaks at 1, 2, 3, ... times the first one (least squares through 0)."""
    width = len(corr)
    estimate = _vertex(corr, first)
    ks, positions = [1.0], [estimate]
    k = 2
    while k * estimate <= width * (1 - HARMONIC_OVERLAP):
        guess = k * estimate
        reach = max(2, int(round(0.1 * estimate)))
        lo, hi = max(1, int(guess) - reach), min(width - 2, int(guess) + reach + 1)
        if hi <= lo:
            break
        i = lo + int(np.argmax(corr[lo:hi + 1]))
        if corr[i] < MIN_CORRELATION or i in (lo, hi):
            break   # the repeat fades (or drifts) here: later ones would not be more reliable
        ks.append(k)
        positions.append(_vertex(corr, i))
        estimate = float(np.dot(ks, positions) / np.dot(ks, ks))
        k += 1
    return float(np.dot(ks, positions) / np.dot(ks, ks))
