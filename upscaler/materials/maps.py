"""The map operators: base colour in, height, normal, AO, roughness and metallic out.

Classic image processing, no learned weights. Pixels come in OpenCV's layout as
``upscaler.imageio`` hands them around (``HxW`` gray, ``HxWx3`` BGR, ``HxWx4`` BGRA; uint8 or
uint16, sRGB-encoded). Every operator works on float32 planes in 0..1, wraps around at the
borders when ``seamless`` (a tileable photo gives tileable maps) and mirrors them otherwise,
and uses centred, odd-sized kernels so that no map is shifted against the base colour.
Sizes (``*_px``) are in pixels of the image; presets give them as fractions of its longer side.
"""

from __future__ import annotations

import cv2
import numpy as np

from upscaler.materials.filtering import (
    SmoothField,
    filter_in_strips,
    gaussian_radius,
    lowpass,
    robust_range,
    shrink,
    strip_rows,
)

# Below this spread (0.5-99.5 percentile range of the band-passed luminance, 0..1 units, about 15
# levels of 8 bits) an image counts as untextured: its height is scaled by this floor instead of
# stretched to the full range, so sensor or JPEG noise on a flat colour stays flat.
NOISE_FLOOR = 0.06
NEUTRAL_HEIGHT = 0.5       # transparent pixels, and every pixel of a flat colour
NORMAL_SCALE_WEIGHTS = ((0.0, 0.5), (1.0, 0.3), (2.0, 0.2))  # (Gaussian sigma px, weight) of the derivatives
AO_RADIUS_STEPS = (1.0, 0.5, 0.25)   # fractions of the AO radius whose visibilities are averaged
DELIGHT_SCALE = 1 / 6      # shading wider than this (Gaussian sigma, fraction of the longer side) is removed
DELIGHT_GRID = 96          # the de-lighting field is estimated on an image this big (longer side)
METAL_SATURATION = (0.25, 0.5)  # saturation from which a metal's pixel fades to non-metal (rust, paint)


def max_value(pixels: np.ndarray) -> float:
    return float(np.iinfo(pixels.dtype).max)


def color_planes(pixels: np.ndarray) -> np.ndarray:
    """The colour part (HxWx3 BGR or HxW gray) of an image, without alpha; a view, not a copy."""
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        return pixels[:, :, :-1] if pixels.shape[2] == 4 else pixels[:, :, 0]
    return pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels


def opacity(pixels: np.ndarray) -> np.ndarray | None:
    """Alpha as float32 0..1, or None when the image has none."""
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        return pixels[:, :, -1].astype(np.float32) * np.float32(1 / max_value(pixels))
    return None


def luminance(pixels: np.ndarray) -> np.ndarray:
    """Luma (BT.601 weights on the sRGB-encoded values) as a float32 plane in 0..1, by strips."""
    color = color_planes(pixels)
    scale = np.float32(1 / max_value(pixels))
    out = np.empty(color.shape[:2], np.float32)
    step = strip_rows(out.shape[1])
    for top in range(0, out.shape[0], step):
        strip = color[top:top + step].astype(np.float32)
        if strip.ndim == 3:
            strip = cv2.cvtColor(strip, cv2.COLOR_BGR2GRAY)
        out[top:top + step] = strip * scale
    return out


def fill_transparent(plane: np.ndarray, alpha: np.ndarray | None) -> None:
    """Blend transparent pixels (in place) towards the opaque pixels' mean: whatever colour
    hides under alpha 0 must not become relief at the cut-out's edge."""
    if alpha is None:
        return
    opaque = float((plane * alpha).sum() / max(float(alpha.sum()), 1e-6))
    plane *= alpha
    plane += (1 - alpha) * opaque


def mask_towards(plane: np.ndarray, alpha: np.ndarray | None, neutral: float) -> None:
    """Where alpha is 0 the map takes its neutral value (in place), blended by alpha in between."""
    if alpha is not None:
        plane -= neutral
        plane *= alpha
        plane += neutral


# -- base colour -------------------------------------------------------------------------------

def srgb_to_linear(values: np.ndarray) -> np.ndarray:
    return np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(values: np.ndarray) -> np.ndarray:
    values = np.clip(values, 0, 1)
    return np.where(values <= 0.0031308, values * 12.92, 1.055 * values ** (1 / 2.4) - 0.055).astype(np.float32)


def shading_field(pixels: np.ndarray, seamless: bool, scale: float = DELIGHT_SCALE) -> SmoothField:
    """The photo's large-scale shading as a gain to apply in linear light (mean 1).

    Estimated on a small area-averaged copy: the log of the linear luminance, low-passed at
    ``scale`` (Gaussian sigma, fraction of the longer side). A tileable image's shading wraps
    around; otherwise a plane is fitted first (a light falloff across the photo is mostly a
    ramp, which a mirrored blur would bend at the borders) and the rest is low-passed.
    """
    height, width = pixels.shape[:2]
    small = shrink(pixels, max(height, width) / DELIGHT_GRID).astype(np.float32) / max_value(pixels)
    alpha = small[:, :, -1] if small.ndim == 3 and small.shape[2] in (2, 4) else None
    lin = srgb_to_linear(color_planes(small))
    lum = lin @ np.float32([0.0722, 0.7152, 0.2126]) if lin.ndim == 3 else lin  # BGR, Rec. 709
    log_lum = np.log(np.maximum(lum, 1e-4)).astype(np.float32)
    weights = np.ones_like(log_lum) if alpha is None else (alpha > 0.5).astype(np.float32)
    sh, sw = log_lum.shape
    low = np.zeros_like(log_lum)
    if not seamless:
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        basis = np.stack([np.ones_like(xx), xx / sw, yy / sh], -1).reshape(-1, 3)
        w = weights.reshape(-1, 1)
        coeffs, *_ = np.linalg.lstsq(basis * w, log_lum.reshape(-1, 1) * w, rcond=None)
        low = (basis @ coeffs).reshape(sh, sw).astype(np.float32)
    mean_rest = float((weights * (log_lum - low)).sum() / max(float(weights.sum()), 1))
    rest = np.where(weights > 0, log_lum - low, mean_rest).astype(np.float32)
    low += lowpass(rest, scale * max(sh, sw), seamless)
    mean = float((weights * low).sum() / max(float(weights.sum()), 1))
    return SmoothField(np.exp(mean - low).astype(np.float32), height, width, seamless)


def _decode_table(dtype: np.dtype) -> np.ndarray:
    """sRGB-encoded integer value -> linear float32, for every value of ``dtype``."""
    maxval = np.iinfo(dtype).max
    return srgb_to_linear(np.arange(maxval + 1, dtype=np.float32) / np.float32(maxval))


ENCODE_STEPS = 65535  # the encode table is indexed by sqrt(linear): fine steps in the darks


def _encode_table(dtype: np.dtype) -> np.ndarray:
    """round(sqrt(linear) * ENCODE_STEPS) -> sRGB-encoded integer value of ``dtype``."""
    maxval = np.iinfo(dtype).max
    root = np.arange(ENCODE_STEPS + 1, dtype=np.float64) / ENCODE_STEPS
    return np.rint(linear_to_srgb((root * root).astype(np.float32)) * maxval).astype(dtype)


def delight(pixels: np.ndarray, seamless: bool, scale: float = DELIGHT_SCALE) -> np.ndarray:
    """The base colour with its baked large-scale shading removed: every channel of a pixel is
    multiplied by the same gain in linear light (so the colour stays), alpha is kept.

    Decoding and encoding go through tables (every input value; the square root of the linear
    value in 65,536 steps, under a tenth of a 16-bit level apart in the darks): exact transfer
    functions at the speed of a lookup.
    """
    return apply_gain(pixels, shading_field(pixels, seamless, scale))


def apply_gain(pixels: np.ndarray, gain: SmoothField) -> np.ndarray:
    """A copy of ``pixels`` whose colour channels are multiplied by ``gain`` (a field the size of
    the image) in linear light, strip by strip; alpha is kept. Tables as in :func:`delight`."""
    decode, encode = _decode_table(pixels.dtype), _encode_table(pixels.dtype)
    out = pixels.copy()
    color = color_planes(out)
    step = strip_rows(pixels.shape[1])
    for top in range(0, pixels.shape[0], step):
        bottom = min(pixels.shape[0], top + step)
        lin = np.take(decode, color[top:bottom])
        g = gain.rows(top, bottom)
        lin *= g[:, :, None] if lin.ndim == 3 else g
        np.sqrt(np.clip(lin, 0, 1, out=lin), out=lin)
        lin *= np.float32(ENCODE_STEPS)
        lin += np.float32(0.5)
        color[top:bottom] = np.take(encode, lin.astype(np.uint16))
    return out


# -- height ------------------------------------------------------------------------------------

def band_scales_px(size: int) -> tuple[float, float, float]:
    """The fine/medium/coarse Gaussian scales in px for an image whose scales refer to ``size`` px."""
    from upscaler.materials.presets import COARSE_SCALE, FINE_SCALE, MEDIUM_SCALE

    return FINE_SCALE * size, MEDIUM_SCALE * size, COARSE_SCALE * size


def height_map(lum: np.ndarray, weights: tuple[float, float, float], seamless: bool,
               alpha: np.ndarray | None = None, size: int | None = None) -> tuple[np.ndarray, bool]:
    """Height in 0..1 (float32) from luminance, and whether the image was found flat.

    The luminance is split into fine, medium and coarse bands (differences of Gaussians at the
    scales of ``band_scales_px``), the bands are weighted (``weights``, fine/medium/coarse) and
    summed, and the result is stretched so that its 0.5-99.5 percentiles span 0..1, but never by
    more than 1 / NOISE_FLOOR: an untextured image stays flat at 0.5. Holds ``lum``, the result
    and one more plane. ``size``: what the scales are fractions of (default: the longer side).
    """
    fine, medium, coarse = band_scales_px(size or max(lum.shape))
    top = max(max(weights), 1e-6)
    wf, wm, wc = (w / top for w in weights)
    # sum_k w_k (G_k - G_k+1) with G_0 = lum: each blur is added once with the step in weights.
    height = lum * np.float32(wf)
    blurred = np.empty_like(lum)
    for sigma, step in ((fine, wm - wf), (medium, wc - wm), (coarse, -wc)):
        if step:
            lowpass(lum, sigma, seamless, out=blurred)
            cv2.scaleAdd(blurred, step, height, dst=height)
    del blurred
    lo, hi = robust_range(height, alpha)
    spread = hi - lo
    flat = spread < NOISE_FLOOR
    if flat:
        height -= (lo + hi) / 2
        height *= np.float32(1 / NOISE_FLOOR)
        height += NEUTRAL_HEIGHT
    else:
        height -= lo
        height *= np.float32(1 / spread)
    np.clip(height, 0, 1, out=height)
    mask_towards(height, alpha, NEUTRAL_HEIGHT)
    return height, flat


# -- normal ------------------------------------------------------------------------------------

def normal_map(height: np.ndarray, slope_px: float, seamless: bool, convention: str = "opengl",
               bits: int = 8) -> np.ndarray:
    """Tangent-space normal map (HxWx3 BGR, uint8 or uint16) from a 0..1 height.

    ``slope_px``: how many pixels of relief the height's 0..1 range stands for (the preset's
    depth times the longer side, times the strength). Derivatives are centred 3x3 Sobel of the
    height mixed over a few Gaussian scales (NORMAL_SCALE_WEIGHTS), which keeps pixel-level
    noise from dominating. OpenGL convention: +X right (red), +Y up the image (green);
    ``directx`` is the same with green inverted, exactly (maxval - green).
    """
    if convention not in ("opengl", "directx"):
        raise ValueError(f"normal_convention must be 'opengl' or 'directx', not {convention!r}")
    if bits not in (8, 16):
        raise ValueError(f"normal bits must be 8 or 16, not {bits}")
    dtype = np.uint8 if bits == 8 else np.uint16
    maxval = float(np.iinfo(dtype).max)
    halo = max(gaussian_radius(sigma) for sigma, _ in NORMAL_SCALE_WEIGHTS if sigma) + 1

    def strip_normals(strip: np.ndarray) -> np.ndarray:
        mix = strip * np.float32(NORMAL_SCALE_WEIGHTS[0][1])
        for sigma, weight in NORMAL_SCALE_WEIGHTS[1:]:
            blurred = cv2.GaussianBlur(strip, (2 * gaussian_radius(sigma) + 1,) * 2, sigma)
            cv2.scaleAdd(blurred, weight, mix, dst=mix)
        k = slope_px * 0.125  # Sobel's 3x3 sums to 8x the per-pixel derivative
        nx = cv2.Sobel(mix, cv2.CV_32F, 1, 0, ksize=3, scale=-k)   # -dh/dx
        ny = cv2.Sobel(mix, cv2.CV_32F, 0, 1, ksize=3, scale=k)    # -dh/d(up) = +dh/d(row)
        inv = cv2.magnitude(cv2.magnitude(nx, ny), np.ones_like(nx))   # |(nx, ny, 1)|
        np.reciprocal(inv, out=inv)
        planes = (inv, cv2.multiply(ny, inv), cv2.multiply(nx, inv))   # B = z, G = y, R = x
        if dtype == np.uint8:   # rounds and saturates, on OpenCV's threads
            encoded = [cv2.convertScaleAbs(p, alpha=maxval / 2, beta=maxval / 2) for p in planes]
        else:
            encoded = [np.rint((p + 1) * np.float32(maxval / 2)).astype(dtype) for p in planes]
        return cv2.merge(encoded)

    out = np.empty(height.shape + (3,), dtype)
    filter_in_strips(height, strip_normals, halo, seamless, out=out)
    if convention == "directx":
        flip_green(out)
    return out


def flip_green(normal: np.ndarray) -> np.ndarray:
    """OpenGL <-> DirectX normal map, in place: green becomes maxval - green."""
    green = normal[:, :, 1]
    np.subtract(np.iinfo(normal.dtype).max, green, out=green)
    return normal


# -- ambient occlusion -------------------------------------------------------------------------

def ambient_occlusion(height: np.ndarray, slope_px: float, radius_px: float, seamless: bool) -> np.ndarray:
    """Cavity-based ambient occlusion in 0..1 (1 = open) from a 0..1 height.

    At each of a few radii r (AO_RADIUS_STEPS of ``radius_px``), the surroundings' mean height
    (Gaussian, sigma r) above the pixel gives a horizon elevation tan t = rise / r, in pixels of
    relief (``slope_px`` per unit of height); a horizon that high all around leaves cos^2 t of
    the cosine-weighted sky visible. The visibilities at the radii are averaged.
    """
    ao = np.zeros_like(height)
    around = np.empty_like(height)
    for step in AO_RADIUS_STEPS:
        radius = max(1.0, radius_px * step)
        lowpass(height, radius, seamless, out=around)
        cv2.subtract(around, height, dst=around)
        cv2.max(around, 0.0, dst=around)                                  # rise of the surroundings
        cv2.multiply(around, around, dst=around, scale=(slope_px / radius) ** 2)   # tan^2 t
        cv2.add(around, 1.0, dst=around)
        cv2.divide(1.0, around, dst=around)                               # cos^2 t = 1 / (1 + tan^2 t)
        cv2.add(ao, around, dst=ao)
    ao *= np.float32(1 / len(AO_RADIUS_STEPS))
    return ao


# -- roughness and metallic --------------------------------------------------------------------

def _spread(plane: np.ndarray, alpha: np.ndarray | None) -> tuple[float, float]:
    """(median, robust standard deviation) of a plane, the deviation floored at the noise level."""
    lo, hi = robust_range(plane, alpha, 16, 84)
    mid = robust_range(plane, alpha, 50, 50)[0]
    return mid, max((hi - lo) / 2, NOISE_FLOOR / 4)


def roughness_map(lum: np.ndarray, base: float, variation: float, when_dark: float, when_detailed: float,
                  seamless: bool, alpha: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
    """Roughness in 0..1 from local luminance and detail statistics; consumes ``lum`` (reused in place).

    Two cues, each measured against its own spread over the image: how much darker a pixel's
    neighbourhood (fine scale) is than its wider surroundings (medium scale), and how much fine
    detail (local standard deviation) there is around it. Their weighted sum moves roughness
    around ``base`` by at most ``variation`` (a soft limit). A flat image gets ``base``.
    """
    fine, medium, _ = band_scales_px(size or max(lum.shape))
    local = lowpass(lum, max(fine, 1.0), seamless)
    surroundings = lowpass(lum, medium, seamless)
    surroundings -= local                        # > 0: darker than around it
    lum -= local
    np.square(lum, out=lum)
    lowpass(lum, medium, seamless, out=local)    # local variance of the fine detail
    np.sqrt(local, out=local)
    del lum
    score = np.zeros_like(local)
    for cue, weight in ((surroundings, when_dark), (local, when_detailed)):
        if weight:
            mid, spread = _spread(cue, alpha)
            cv2.scaleAdd(cue, weight / spread, score, dst=score)
            cv2.subtract(score, weight / spread * mid, dst=score)
    del surroundings, local
    # A soft limit to -1..1 with tanh(z / 2)'s shape near 0: z / sqrt(4 + z^2).
    limit = cv2.multiply(score, score)
    cv2.add(limit, 4.0, dst=limit)
    cv2.sqrt(limit, dst=limit)
    cv2.divide(score, limit, dst=score, scale=variation)
    del limit
    cv2.add(score, float(base), dst=score)
    cv2.min(score, 1.0, dst=score)
    cv2.max(score, 0.0, dst=score)
    mask_towards(score, alpha, base)
    return score


def metallic_map(pixels: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """Metallic in 0..1 for a metal: 1 for grey-ish (bare metal) pixels, fading to 0 for strongly
    coloured ones (rust, paint), saturation between METAL_SATURATION; 0 where transparent."""
    color = color_planes(pixels)
    out = np.ones(pixels.shape[:2], np.float32)
    if color.ndim == 3:
        lo, hi = METAL_SATURATION
        step = strip_rows(out.shape[1])
        for top in range(0, out.shape[0], step):
            strip = color[top:top + step].astype(np.float32)
            saturation = cv2.cvtColor(strip, cv2.COLOR_BGR2HSV)[:, :, 1]   # (max - min) / max
            t = np.clip((saturation - lo) * np.float32(1 / (hi - lo)), 0, 1)
            out[top:top + step] = 1 - t * t * (3 - 2 * t)   # smoothstep
    mask_towards(out, alpha, 0.0)
    return out


def to_uint(plane: np.ndarray, bits: int) -> np.ndarray:
    """A 0..1 float plane as uint8 or uint16 (rounded)."""
    dtype = np.uint8 if bits == 8 else np.uint16
    maxval = np.float32(np.iinfo(dtype).max)
    out = np.empty(plane.shape, dtype)
    step = strip_rows(plane.shape[1])
    for top in range(0, plane.shape[0], step):
        out[top:top + step] = np.rint(np.clip(plane[top:top + step], 0, 1) * maxval)
    return out

