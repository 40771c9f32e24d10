"""Gradient-domain fusion of a cut: what mismatch is left across it, spread smoothly away.

A minimum-error cut still crosses some mismatch (two copies of a texture never agree
everywhere). Following Agarwala et al., "Interactive Digital Photomontage" (SIGGRAPH 2004), the
band round the cut is solved again in the gradient domain: every difference between neighbours
is kept as the photo has it, except across the cut, where the two copies' own differences there
are averaged. The solution differs from the cut composite by a smooth field that is zero at the
strip's sides, so the texture (every gradient off the cut) is untouched, no two textures are
mixed, and the step at the cut is gone.

A strip is ``(length, width, channels)``: axis 0 runs along the cut (optionally wrapping round),
axis 1 across it; its first and last ``margin`` columns are plain image on either side of the
band, and the correction is pinned to zero just outside them. The Poisson equation is solved
exactly with fast transforms: a discrete sine transform across the strip (zero outside), a
Fourier transform along it when it wraps round, a cosine transform (free ends) when it does not.
"""

from __future__ import annotations

import numpy as np
from scipy import fft


def fuse_strip(a: np.ndarray, b: np.ndarray, take_b: np.ndarray, before: np.ndarray, after: np.ndarray,
               periodic: bool) -> np.ndarray:
    """The fused strip ``before | band | after`` as float32 ``(length, margin + width + margin, C)``.

    ``a``, ``b``: float32 ``(length, width, C)``, the two copies over the band; ``take_b``: the
    cut's labels (True: ``b``); ``before``: the pixels just before the band (``a`` continues
    them), ``after``: just after it (they continue ``b``), float32 ``(length, margin, C)``;
    ``periodic``: axis 0 wraps round.
    """
    labels = take_b[:, :, None]
    band = np.where(labels, b, a)
    strip = np.concatenate([before, band, after], axis=1)
    margin = before.shape[1]
    rhs = np.zeros(strip.shape, np.float32)
    inner = rhs[:, margin:margin + band.shape[1]]
    # Across the band (axis 1): edges between columns x and x + 1 of the band.
    _add_edges(inner, band, a, b, take_b, axis=1, periodic=False)
    # Along the band (axis 0).
    _add_edges(inner, band, a, b, take_b, axis=0, periodic=periodic)
    if not rhs.any():
        return strip
    for channel in range(strip.shape[2]):   # one at a time: the transforms' copies are the peak memory
        strip[:, :, channel] += _solve_poisson(rhs[:, :, channel], periodic)
    return strip


def _add_edges(rhs: np.ndarray, band: np.ndarray, a: np.ndarray, b: np.ndarray, take_b: np.ndarray, axis: int,
               periodic: bool) -> None:
    """Accumulate into ``rhs`` the divergence of the wanted-minus-present differences on cut edges."""
    def forward(x: np.ndarray) -> np.ndarray:   # x[i] - x[i + 1] along axis
        if periodic:
            return x - np.roll(x, -1, axis=axis)
        return np.diff(x, axis=axis) * -1

    cut = forward(take_b.astype(np.int8)) != 0
    if not cut.any():
        return
    wanted = (forward(a) + forward(b)) / 2
    excess = np.where(cut[:, :, None], wanted - forward(band), 0).astype(np.float32)
    # Edge (i, i + 1) wants f(i) - f(i + 1) = excess: +excess at i, -excess at i + 1.
    if periodic:
        rhs += excess
        rhs -= np.roll(excess, 1, axis=axis)
    else:
        head = [slice(None)] * 3
        tail = [slice(None)] * 3
        head[axis], tail[axis] = slice(0, -1), slice(1, None)
        rhs[tuple(head)] += excess
        rhs[tuple(tail)] -= excess


def _solve_poisson(rhs: np.ndarray, periodic: bool) -> np.ndarray:
    """f with (-Laplacian f) = rhs (2-D): f = 0 just outside axis 1's ends, axis 0 periodic or free."""
    length, width = rhs.shape
    spectrum = fft.dst(rhs, type=1, axis=1, norm="ortho")
    across = 2 - 2 * np.cos(np.pi * np.arange(1, width + 1) / (width + 1))
    if periodic:
        spectrum = fft.fft(spectrum, axis=0)
        along = 2 - 2 * np.cos(2 * np.pi * np.arange(length) / length)
    else:
        spectrum = fft.dct(spectrum, type=2, axis=0, norm="ortho")
        along = 2 - 2 * np.cos(np.pi * np.arange(length) / length)
    # The (0, 0) term: along is 0 there, across is not (the sine transform has no constant).
    spectrum /= (along[:, None] + across[None, :]).astype(np.float32)
    if periodic:
        spectrum = fft.ifft(spectrum, axis=0).real
    else:
        spectrum = fft.idct(spectrum, type=2, axis=0, norm="ortho")
    return fft.idst(spectrum, type=1, axis=1, norm="ortho").astype(np.float32)
