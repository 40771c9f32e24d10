"""How well a tile tiles: the measures the tests and ``bench/tileable.py`` hold tiles to.

- :func:`wrap_seam_score` (the evaluation one): the tile's own edges, as a tiling shows them.
- :func:`cut_seam_score`: every pair of neighbours in the tiling that were not neighbours in the
  photo (the cuts), the same way: a tile whose cuts lie inside it scores on them, not on its edges.
- :func:`low_frequency_step`: brightness steps a tiling shows at a distance.
- :func:`border_detail_ratio`: fine texture near the edges against the inside (ghosting by a
  cross-fade lowers it).
- :func:`mean_color_delta_e`: how far the tile's mean colour moved.
- :func:`cross_fade_tile`: the classic trick, as the baseline a cut must beat.

Images are OpenCV layout (gray, BGR, BGRA; uint8/uint16); alpha is ignored.
"""

from __future__ import annotations

import cv2
import numpy as np

from upscaler.evaluation.image_metrics import luminance, wrap_seam_score
from upscaler.materials.maps import color_planes, max_value, srgb_to_linear

__all__ = ["MAP_STEP_FLOOR", "border_detail_ratio", "cross_fade_tile", "cut_seam_score", "low_frequency_step",
           "mean_color_delta_e", "wrap_seam_score"]

STEP_LOW_PASS = 1 / 8     # Gaussian sigma of low_frequency_step, fraction of the tile's side
BORDER_BAND = 0.2         # border_detail_ratio: the outer 20% of each side
DETAIL_SIGMA = 2.0        # px: border_detail_ratio's high-pass is the image minus this blur
CROSS_FADE_FEATHER = 0.25  # cross_fade_tile blends over the outer quarter of the shorter side
# Seam scores of 8-bit material maps count the mean neighbour step as at least half a code value.
# A nearly flat map (a glass roughness map: nine tenths of it one level, its mean neighbour step a
# few hundredths of a level) cannot show a seam below one code value, and its ratio only says
# where the rounding flips fall: its own column pairs range from half to about four times their
# mean. A real step of one level across both edges of such a map still scores 2 (across one, 1).
MAP_STEP_FLOOR = 0.5


def _planes(image: np.ndarray) -> np.ndarray:
    img = color_planes(image).astype(np.float64)
    return img if img.ndim == 3 else img[:, :, None]


def cut_seam_score(tile: np.ndarray, source_rows: np.ndarray, source_cols: np.ndarray, floor: float = 0.0) -> float:
    """Mean |difference| across the tiling's cuts over the mean |difference| of all neighbours.

    ``source_rows/cols``: where each pixel of ``tile`` came from in the photo. Neighbours in
    the tiling (wrapping round) whose sources are not neighbours lie on a cut. About 1.0: the
    cuts are invisible; 1.0 too when there is no cut at all. ``floor``: as ``wrap_seam_score``'s.
    """
    img = _planes(tile)
    across, everywhere = [], []
    for axis, (step_y, step_x) in ((1, (0, 1)), (0, (1, 0))):
        diff = np.abs(np.roll(img, -1, axis=axis) - img).sum(axis=2)
        natural = ((np.roll(source_rows, -1, axis=axis) == source_rows + step_y)
                   & (np.roll(source_cols, -1, axis=axis) == source_cols + step_x))
        across.append(diff[~natural])
        everywhere.append(diff.ravel())
    cut = np.concatenate(across)
    if cut.size == 0:
        return 1.0
    return float(cut.mean() / max(np.concatenate(everywhere).mean(), floor, 1e-12))


def low_frequency_step(tile: np.ndarray, sigma_fraction: float = STEP_LOW_PASS) -> float:
    """Gradient of a heavily low-passed 2x2 tiling at the tile boundary over that at the tile's
    centre line (columns and rows together). About 1: no brightness step where tiles meet; a
    photo lit from one side scores several times that.

    The tiling's luminance is blurred with wrap-around (it repeats) at sigma = ``sigma_fraction``
    of the tile's shorter side; the gradients are mean |d/dx| along the boundary column and the
    centre column (and |d/dy| along the rows), central differences.
    """
    y = luminance(tile)
    height, width = y.shape
    tiled = np.tile(y, (2, 2))
    sigma = sigma_fraction * min(height, width)
    radius = int(np.ceil(3 * sigma))
    padded = np.pad(tiled, radius, mode="wrap")
    low = cv2.GaussianBlur(padded, (2 * radius + 1,) * 2, sigma)[radius:-radius, radius:-radius]
    gx = np.abs(np.roll(low, -1, axis=1) - np.roll(low, 1, axis=1)) / 2
    gy = np.abs(np.roll(low, -1, axis=0) - np.roll(low, 1, axis=0)) / 2
    # The boundary lies between column width - 1 and width: the gradient there is the mean of the two.
    boundary = (gx[:, width - 1].mean() + gx[:, width].mean()) / 2 + (gy[height - 1].mean() + gy[height].mean()) / 2
    centre = (gx[:, width // 2 - 1].mean() + gx[:, width // 2].mean()) / 2 + \
        (gy[height // 2 - 1].mean() + gy[height // 2].mean()) / 2
    return float(boundary / max(centre, 1e-12))


def border_detail_ratio(image: np.ndarray, band: float = BORDER_BAND) -> float:
    """High-pass energy (luminance minus its Gaussian blur, sigma 2 px) in the outer ``band`` of
    each side over that of the interior. Compare a tile's with its photo's: a cross-fade that
    averages two unrelated textures near the edges lowers it (ghosting)."""
    y = luminance(image)
    high = y - cv2.GaussianBlur(y, (0, 0), DETAIL_SIGMA, borderType=cv2.BORDER_REFLECT)
    energy = high**2
    height, width = y.shape
    by, bx = max(1, round(band * height)), max(1, round(band * width))
    inner = np.zeros(y.shape, bool)
    inner[by:height - by, bx:width - bx] = True
    return float(energy[~inner].mean() / max(energy[inner].mean(), 1e-20))


def mean_color_delta_e(a: np.ndarray, b: np.ndarray) -> float:
    """CIEDE2000 between the mean colours of two images (means taken in linear light)."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    def mean_lab(image: np.ndarray) -> np.ndarray:
        planes = _planes(image) / max_value(image)
        linear = srgb_to_linear(planes.astype(np.float32)).reshape(-1, planes.shape[2]).mean(axis=0)
        bgr = linear if linear.size == 3 else np.repeat(linear, 3)
        srgb = np.clip(np.where(bgr <= 0.0031308, bgr * 12.92, 1.055 * bgr ** (1 / 2.4) - 0.055), 0, 1)
        return rgb2lab(srgb[::-1].reshape(1, 1, 3))

    return float(deltaE_ciede2000(mean_lab(a), mean_lab(b))[0, 0])


def cross_fade_tile(image: np.ndarray, feather: float = CROSS_FADE_FEATHER) -> np.ndarray:
    """The classic way to make a tile: the image's half-offset copy (whose edges meet, since
    its neighbours across the wrap are neighbours in the photo) faded into the image itself over
    the outer ``feather`` of the shorter side (the copy alone at the edges, the image alone
    inside, where the copy's own seams lie). Same size; a blend of two unrelated textures where
    they fade."""
    height, width = image.shape[:2]
    shifted = np.roll(image, (height // 2, width // 2), axis=(0, 1)).astype(np.float32)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    edge = np.minimum(np.minimum(yy + 0.5, height - yy - 0.5), np.minimum(xx + 0.5, width - xx - 0.5))
    weight = np.clip(edge / (feather * min(height, width)), 0, 1)
    if image.ndim == 3:
        weight = weight[:, :, None]
    out = weight * image.astype(np.float32) + (1 - weight) * shifted
    return np.clip(np.rint(out), 0, max_value(image)).astype(image.dtype)
