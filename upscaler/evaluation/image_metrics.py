"""Image quality measures shared by tests, benchmarks and reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape arrays (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak * peak / mse)


def seam_score(image: np.ndarray, columns: Sequence[int] = (), rows: Sequence[int] = ()) -> float:
    """How much the image jumps across the given boundaries, relative to everywhere else.

    A boundary at column ``c`` lies between columns ``c - 1`` and ``c`` (row ``r`` likewise).
    The score is the mean absolute difference across those boundaries divided by the mean
    absolute difference between all neighbouring columns/rows: about 1.0 when the boundaries
    are invisible, clearly above 1 for a visible seam.
    """
    img = image.astype(np.float64)
    dx = np.abs(np.diff(img, axis=1))  # dx[:, c - 1] is the step from column c - 1 to c
    dy = np.abs(np.diff(img, axis=0))
    across = [dx[:, c - 1].mean() for c in columns] + [dy[r - 1].mean() for r in rows]
    if not across:
        raise ValueError("seam_score needs at least one boundary")
    everywhere = (dx.mean() * len(columns) + dy.mean() * len(rows)) / (len(columns) + len(rows))
    return float(np.mean(across) / everywhere)


def ssim_y(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on the Y channel (ITU-R BT.601) of two HxWx3 RGB images in 0..1, basicsr's way
    (the training validation uses it on network outputs)."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_ssim


    to8 = lambda img: np.clip(np.rint(img[:, :, ::-1] * 255), 0, 255)  # noqa: E731  (RGB -> BGR, 0..255)
    return float(calculate_ssim(to8(a), to8(b), crop_border=0, input_order="HWC", test_y_channel=True))


def wrap_seam_score(image: np.ndarray, floor: float = 0.0) -> float:
    """How visible the wrap-around edges of a texture are when it is tiled.

    Mean absolute difference between the last and first column (and row), relative to the mean
    difference between neighbouring columns (and rows) inside: about 1.0 for a seamless tile.
    ``floor``: the inside difference counts as at least this many code values (see
    ``MAP_STEP_FLOOR``: on a nearly flat quantized map the ratio otherwise measures where the
    rounding flips fall).
    """
    img = image.astype(np.float64)
    across = (np.abs(img[:, 0] - img[:, -1]).mean() + np.abs(img[0] - img[-1]).mean()) / 2
    inside = (np.abs(np.diff(img, axis=1)).mean() + np.abs(np.diff(img, axis=0)).mean()) / 2
    return float(across / max(inside, floor, 1e-12))


def color_drift(original: np.ndarray, upscaled: np.ndarray, sigma_input_px: float = 2.0) -> float:
    """Mean CIEDE2000 between the input and the output brought back to the input's size (area),
    both low-passed by a Gaussian of ``sigma_input_px``: colour casts, not texture. BGR uint8/16."""
    from skimage.color import deltaE_ciede2000

    if original.ndim == 2:
        return 0.0
    height, width = original.shape[:2]
    back = cv2.resize(upscaled[:, :, :3], (width, height), interpolation=cv2.INTER_AREA)

    def lab(img: np.ndarray) -> np.ndarray:
        maxval = float(np.iinfo(img.dtype).max)
        smooth = cv2.GaussianBlur(img[:, :, :3].astype(np.float32) / maxval, (0, 0), sigma_input_px)
        return cv2.cvtColor(smooth, cv2.COLOR_BGR2Lab)

    return float(deltaE_ciede2000(lab(original), lab(back)).mean())


def niqe(image: np.ndarray) -> float:
    """basicsr's NIQE (lower = more natural) on the Y channel of a BGR or gray uint8 image."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.niqe import calculate_niqe


    img = image if image.ndim == 3 else image[:, :, None]
    if img.dtype != np.uint8:
        img = (img.astype(np.float64) / 257).round().astype(np.uint8)
    return float(calculate_niqe(img[:, :, :3] if img.shape[2] >= 3 else img, 0, input_order="HWC", convert_to="y"))


def psnr_y(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on the Y channel (BT.601) of two BGR uint8 images, as SR papers report it."""
    import upscaler.compat  # noqa: F401
    from basicsr.metrics.psnr_ssim import calculate_psnr


    return float(calculate_psnr(a, b, crop_border=0, input_order="HWC", test_y_channel=True))


# -- texture fidelity: how much fine detail an upscaler keeps, loses or invents ---------------------
#
# PSNR and SSIM reward smooth outputs: a network that paints fabric weave and carpet pile as a
# flat average scores well on both while the texture is gone. The two measures below compare
# how much fine structure the output has with how much the ground truth has, whatever its
# exact position: the question is "is the weave still there", not "is every thread in place".

DETAIL_SIGMA_PX = 1.0  # the finest band: Gaussian sigma 1 px minus sigma 2 px (output pixels)
SPECTRUM_LOW_CUTOFF = 0.25  # cycles/px: the upper half of the frequencies up to Nyquist (0.5)
_SPECTRUM_FLOOR = 1e-12  # power added to every bin so that flat images do not divide by zero
_ENERGY_FLOOR = 1e-20    # fine-band energy below this is float round-off of a flat image, i.e. none


def luminance(image: np.ndarray) -> np.ndarray:
    """Y (ITU-R BT.601) in 0..1 as float64, from a BGR(A) or gray image: uint8, uint16, or
    float already in 0..1."""
    img = image
    if np.issubdtype(img.dtype, np.integer):
        img = img.astype(np.float64) / float(np.iinfo(img.dtype).max)
    else:
        img = img.astype(np.float64)
    if img.ndim == 2:
        return img
    if img.shape[2] == 1:
        return img[:, :, 0]
    b, g, r = img[:, :, 0], img[:, :, 1], img[:, :, 2]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"images differ in size: {a.shape[1]}x{a.shape[0]} and {b.shape[1]}x{b.shape[0]}")


def fine_band(image: np.ndarray, sigma_px: float = DETAIL_SIGMA_PX) -> np.ndarray:
    """The finest texture band of the luminance: Gaussian(sigma) minus Gaussian(2 sigma).

    Mirrored borders, and a margin of 6 sigma dropped on every side so that the mirroring
    itself adds no energy. At the default sigma of 1 px the band centres near 0.12 cycles/px,
    which after an x4 upscale is about the Nyquist frequency of the input: the detail the
    network has to recreate rather than enlarge. Pixel-level noise above it is left out.
    """
    y = luminance(image)
    band = (cv2.GaussianBlur(y, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT_101)
            - cv2.GaussianBlur(y, (0, 0), 2 * sigma_px, borderType=cv2.BORDER_REFLECT_101))
    margin = int(math.ceil(6 * sigma_px))
    if min(band.shape) > 4 * margin:
        band = band[margin:-margin, margin:-margin]
    return band


def fine_band_energy(image: np.ndarray, sigma_px: float = DETAIL_SIGMA_PX) -> float:
    """Mean square of :func:`fine_band` (luminance in 0..1, so units of 1/full-scale^2)."""
    return float(np.mean(fine_band(image, sigma_px) ** 2))


def detail_ratio(output: np.ndarray, truth: np.ndarray, sigma_px: float = DETAIL_SIGMA_PX) -> float:
    """Fine-band energy of ``output`` divided by that of ``truth`` (same size, any layout that
    :func:`luminance` reads).

    1.0: as much fine texture as the truth; below 1 the output is smoothed (0.3 = a third of
    the true texture energy left); above 1 it has more than the truth (invented grain, ringing,
    over-sharpening). Exactly 1.0 for an image against itself; 1.0 when both are flat, inf when
    only the truth is. Aggregate ratios on a log scale (|ln ratio|, geometric means): 0.5 and 2
    are equally far from right.
    """
    _same_shape(output, truth)
    out_energy, truth_energy = fine_band_energy(output, sigma_px), fine_band_energy(truth, sigma_px)
    if truth_energy < _ENERGY_FLOOR:
        return 1.0 if out_energy < _ENERGY_FLOOR else math.inf
    return out_energy / truth_energy


def radial_power_spectrum(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Azimuthally averaged power spectrum of the luminance: (frequencies in cycles/px, power).

    The mean is removed and a 2-D Hann window applied first, so the image's borders (which a
    periodic FFT sees as edges) add no false high-frequency power. One bin per 1/min(h, w)
    cycles/px, up to Nyquist (0.5); power is |FFT|^2 / pixel count, luminance in 0..1.
    """
    y = luminance(image)
    height, width = y.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    spectrum = np.abs(np.fft.fft2((y - y.mean()) * window)) ** 2 / (height * width)
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    step = 1.0 / min(height, width)
    bins = np.rint(radius / step).astype(np.int64)
    inside = radius <= 0.5
    count = np.bincount(bins[inside])
    power = np.bincount(bins[inside], weights=spectrum[inside])
    used = count > 0
    return np.arange(len(count))[used] * step, power[used] / count[used]


def spectral_distance(output: np.ndarray, truth: np.ndarray, low_cutoff: float = SPECTRUM_LOW_CUTOFF) -> float:
    """Mean |log10(P_output / P_truth)| of the radial power spectra over frequencies from
    ``low_cutoff`` (default 0.25 cycles/px) up to Nyquist.

    0.0: the same high-frequency spectrum (exactly, for an image against itself); 0.3 means the
    power is on average a factor of two off (too little when smoothed, too much when grain or
    ringing is invented); 1.0 a factor of ten. Insensitive to where the detail is, unlike PSNR.
    """
    _same_shape(output, truth)
    freq, out_power = radial_power_spectrum(output)
    _, truth_power = radial_power_spectrum(truth)
    upper = freq >= low_cutoff
    if not upper.any():
        raise ValueError("image too small for a spectrum above the cutoff")
    ratio = (out_power[upper] + _SPECTRUM_FLOOR) / (truth_power[upper] + _SPECTRUM_FLOOR)
    return float(np.mean(np.abs(np.log10(ratio))))


# -- where the texture measures mislead ----------------------------------------------------------

PALETTE_MAX_COLORS = 256      # a GIF / PNG-8 palette; a photograph of >= 64x64 px has far more
PALETTE_MAX_GRAY_LEVELS = 32   # posterised gray (an 8-bit gray photograph uses most of 256)
DITHER_MAX_LEVELS = 32         # few levels in every channel (5 bits or less) ...
DITHER_MIN_FINE_FRACTION = 0.1  # ... and this share of the variance at the pixel scale
JPEG_BLOCKINESS_LIMIT = 1.15   # step across 8x8 block edges / step elsewhere; about 1.0 unblocked


def distinct_colors(image: np.ndarray) -> int:
    """How many different pixel values (colours, or gray levels) the image has; alpha ignored."""
    img = image if image.ndim == 2 else image[:, :, : min(3, image.shape[2])]
    flat = img.reshape(-1, 1 if img.ndim == 2 else img.shape[2])
    return int(np.unique(flat, axis=0).shape[0])


def levels_per_channel(image: np.ndarray) -> int:
    """The most distinct values any one colour channel (or the gray plane) takes; alpha ignored."""
    img = image if image.ndim == 2 else image[:, :, : min(3, image.shape[2])]
    planes = [img] if img.ndim == 2 else [img[:, :, c] for c in range(img.shape[2])]
    return max(int(np.unique(plane).size) for plane in planes)


def pixel_scale_fraction(image: np.ndarray) -> float:
    """Share of the luminance variance in the pixel-scale band (image minus its Gaussian blur
    at sigma 1 px): a few percent for photographs, a large part for dithering and noise."""
    y = luminance(image)
    variance = float(y.var())
    if variance == 0:
        return 0.0
    fine = y - cv2.GaussianBlur(y, (0, 0), 1.0, borderType=cv2.BORDER_REFLECT_101)
    return float(np.mean(fine**2) / variance)


def jpeg_blockiness(image: np.ndarray) -> float:
    """How much larger the luminance steps are across one 8-px grid than elsewhere.

    Mean |step| between neighbouring columns, per column position modulo 8: for a JPEG-blocked
    image one of the 8 positions (the block edge) stands out. The score is that largest
    position over the mean of the other seven, averaged over columns and rows; the grid may lie
    at any offset (crops move it). About 1.0 for an unblocked image, 1.3 and more for visible
    blocking. A texture whose own period is 8 px also scores high.
    """
    y = luminance(image)

    def excess(steps: np.ndarray) -> float:
        usable = (steps.shape[1] // 8) * 8
        if usable < 16:
            return 1.0
        profile = steps[:, :usable].mean(axis=0).reshape(-1, 8).mean(axis=0)
        peak = int(np.argmax(profile))
        rest = np.delete(profile, peak).mean()
        return float(profile[peak] / rest) if rest > 0 else 1.0

    return (excess(np.abs(np.diff(y, axis=1))) + excess(np.abs(np.diff(y, axis=0)).T)) / 2


@dataclass(frozen=True)
class TextureCaveats:
    """Why the texture measures may mislead on a ground-truth image (see :func:`texture_caveats`)."""

    distinct_colors: int
    levels_per_channel: int
    pixel_scale_fraction: float
    jpeg_blockiness: float
    palette: bool       # few colours: the "fine texture" is quantisation steps
    dithered: bool      # few colours spread as pixel noise: the texture is the dither pattern
    jpeg_blocking: bool  # the truth's 8x8 block edges count as detail a good upscaler would not copy

    @property
    def misleading(self) -> bool:
        return self.palette or self.dithered or self.jpeg_blocking

    def reasons(self) -> list[str]:
        """Short labels, for reports: "palette", "dithered", "jpeg-blocking"."""
        flags = (("palette", self.palette), ("dithered", self.dithered), ("jpeg-blocking", self.jpeg_blocking))
        return [label for label, on in flags if on]


def texture_caveats(truth: np.ndarray) -> TextureCaveats:
    """Check a ground-truth image for what makes :func:`detail_ratio` and
    :func:`spectral_distance` mislead.

    - palette: at most 256 distinct colours (32 gray levels): steps between palette entries are
      hard edges the metrics count as texture, and no upscaler should reproduce them.
    - dithered: at most 32 levels in every channel and at least 10% of the luminance variance
      at the pixel scale (:func:`pixel_scale_fraction`): the truth's fine band is the dither
      pattern, so a faithful upscale of the material scores as "smoothed". An 8-bit photograph
      uses far more levels, even a grainy one whose pixel-scale share reaches 20%.
    - jpeg_blocking: :func:`jpeg_blockiness` of at least 1.15: the truth carries 8x8 block
      edges; an output without them looks "too smooth" against it.
    """
    colors = distinct_colors(truth)
    gray = truth.ndim == 2 or truth.shape[2] == 1 or (
        np.array_equal(truth[:, :, 0], truth[:, :, 1]) and np.array_equal(truth[:, :, 1], truth[:, :, 2]))
    fraction = pixel_scale_fraction(truth)
    blockiness = jpeg_blockiness(truth)
    palette = colors <= (PALETTE_MAX_GRAY_LEVELS if gray else PALETTE_MAX_COLORS)
    levels = levels_per_channel(truth)
    dithered = levels <= DITHER_MAX_LEVELS and fraction >= DITHER_MIN_FINE_FRACTION
    return TextureCaveats(colors, levels, round(fraction, 4), round(blockiness, 4), palette, dithered,
                          blockiness >= JPEG_BLOCKINESS_LIMIT)
