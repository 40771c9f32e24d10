"""PNG, written from strips of rows: no full-size encoded or pixel copy is ever held.

We write PNG ourselves because neither OpenCV nor Pillow can encode one from strips of rows:
cv2.imencode holds the whole encoded file (and `tobytes` made a second copy), Pillow wants the
whole image as one of its own images (another full-size copy). PNG itself is simple: filtered
rows through one zlib stream, cut into IDAT chunks. Rows are filtered as libpng does by default
(per row, the filter whose output has the smallest sum of absolute signed bytes), which keeps
sizes close to libpng's; the filtering is vectorised per strip with NumPy.
"""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO

import cv2
import numpy as np

from upscaler.errors import InvalidImageError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_STRIP_BYTES = 256 * 2**10  # raw bytes per strip: amortises NumPy calls, stays in cache (fastest measured)
PNG_IDAT_BYTES = 2**20        # compressed bytes per IDAT chunk
PNG_ZLIB_LEVEL = 3            # within a few percent of the smallest size at a fraction of the time of 9
_PNG_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}   # channels -> gray, RGB, RGBA
_TO_PNG_ORDER = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def write_png(pixels: np.ndarray, out: BinaryIO) -> int:
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
    if (pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or pixels.size == 0
            or channels not in _PNG_COLOUR_TYPES):
        raise InvalidImageError(f"could not encode a {pixels.shape} {pixels.dtype} image as png")
    height, width = pixels.shape[:2]
    pixel_bytes = channels * pixels.dtype.itemsize
    header = struct.pack(">IIBBBBB", width, height, 8 * pixels.dtype.itemsize, _PNG_COLOUR_TYPES[channels],
                         0, 0, 0)  # deflate, adaptive filtering, no interlace
    out.write(PNG_SIGNATURE)
    written = len(PNG_SIGNATURE) + _write_png_chunk(out, b"IHDR", header)
    rows = _RowFilter(width * pixel_bytes, pixel_bytes)
    idat = _IdatWriter(out)
    rows_per_strip = max(1, PNG_STRIP_BYTES // (width * pixel_bytes))
    # Filtering the next strip (NumPy, OpenCV) overlaps compressing this one (zlib): all three
    # release the GIL, so a big PNG takes about as long as its compression alone.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="png-filter") as filtering:
        filtered = None
        for top in range(0, height, rows_per_strip):
            next_filtered = filtering.submit(rows.scanlines, pixels[top:top + rows_per_strip])
            if filtered is not None:
                idat.write(filtered.result())
            filtered = next_filtered
        idat.write(filtered.result())
    written += idat.close()
    return written + _write_png_chunk(out, b"IEND", b"")


def _write_png_chunk(out: BinaryIO, kind: bytes, payload: bytes) -> int:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    out.write(struct.pack(">I", len(payload)) + kind)
    out.write(payload)
    out.write(struct.pack(">I", crc))
    return 12 + len(payload)


def _png_byte_rows(strip: np.ndarray) -> np.ndarray:
    """A strip as PNG stores its samples: RGB(A) order, 16-bit big-endian; one byte row per row."""
    if strip.ndim == 3:
        strip = cv2.cvtColor(strip, _TO_PNG_ORDER[strip.shape[2]])  # a new array: BGR -> RGB
    if strip.dtype == np.uint16:
        strip = strip.astype(">u2")
    return np.ascontiguousarray(strip).view(np.uint8).reshape(strip.shape[0], -1)


class _IdatWriter:
    """One zlib stream over all filtered rows, written out as IDAT chunks of bounded size."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._compressor = zlib.compressobj(PNG_ZLIB_LEVEL)
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._written = 0

    def write(self, data: np.ndarray) -> None:
        self._keep(self._compressor.compress(data))
        if self._pending_bytes >= PNG_IDAT_BYTES:
            self._flush()

    def close(self) -> int:
        self._keep(self._compressor.flush())
        self._flush()
        return self._written

    def _keep(self, compressed: bytes) -> None:
        if compressed:
            self._pending.append(compressed)
            self._pending_bytes += len(compressed)

    def _flush(self) -> None:
        if self._pending:
            self._written += _write_png_chunk(self._out, b"IDAT", b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0


class _RowFilter:
    """PNG filtering of successive strips of rows (each strip continues the one before)."""

    def __init__(self, row_bytes: int, pixel_bytes: int) -> None:
        self._pixel_bytes = pixel_bytes
        self._previous_row = np.zeros(row_bytes, np.uint8)  # the row above the first is zeros

    def scanlines(self, strip: np.ndarray) -> np.ndarray:
        """The next strip of pixels as PNG scanlines: filter type byte + filtered bytes, per row."""
        rows = _png_byte_rows(strip)
        above = np.concatenate([self._previous_row[None], rows[:-1]])
        self._previous_row = rows[-1].copy()
        candidates = _filter_candidates(rows, above, self._pixel_bytes)
        best = np.argmin([_signed_byte_sums(c) for c in candidates], axis=0)
        scanlines = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
        scanlines[:, 0] = best
        for filter_type, candidate in enumerate(candidates):
            chosen = best == filter_type
            scanlines[chosen, 1:] = candidate[chosen]
        return scanlines


def _filter_candidates(rows: np.ndarray, above: np.ndarray, pixel_bytes: int) -> list[np.ndarray]:
    """The five PNG filters (None, Sub, Up, Average, Paeth) of every row; bytes wrap mod 256."""
    left = _shift_right(rows, pixel_bytes)
    above_left = _shift_right(above, pixel_bytes)
    average = (left >> 1) + (above >> 1) + (left & above & 1)   # floor((left + above) / 2) in 8 bits
    return [rows, rows - left, rows - above, rows - average, rows - _paeth(left, above, above_left)]


def _shift_right(rows: np.ndarray, pixel_bytes: int) -> np.ndarray:
    """Each byte's neighbour one pixel to the left (zero for the first pixel of a row)."""
    shifted = np.zeros_like(rows)
    shifted[:, pixel_bytes:] = rows[:, :-pixel_bytes]
    return shifted


def _paeth(left: np.ndarray, above: np.ndarray, above_left: np.ndarray) -> np.ndarray:
    """The Paeth predictor: whichever neighbour is closest to p = left + above - above_left
    (ties: left, then above). All in uint8 with OpenCV's saturating operations, several times
    faster than NumPy's int16 arithmetic and ``where`` on big strips."""
    to_left = cv2.absdiff(above, above_left)    # |p - left|
    to_above = cv2.absdiff(left, above_left)    # |p - above|
    # |p - above_left| is the sum of those two when above and left are on the same side of
    # above_left (saturating at 255 is harmless: it only has to compare as the largest), else
    # their difference.
    same_side = ~(cv2.compare(above, above_left, cv2.CMP_GE) ^ cv2.compare(left, above_left, cv2.CMP_GE))
    to_above_left = _select(same_side, cv2.add(to_left, to_above), cv2.absdiff(to_left, to_above))
    take_left = cv2.compare(to_left, to_above, cv2.CMP_LE) & cv2.compare(to_left, to_above_left, cv2.CMP_LE)
    take_above = cv2.compare(to_above, to_above_left, cv2.CMP_LE)
    return _select(take_left, left, _select(take_above, above, above_left))


def _select(mask: np.ndarray, where_set: np.ndarray, elsewhere: np.ndarray) -> np.ndarray:
    """Bytes of ``where_set`` where ``mask`` is 255 (OpenCV's true), of ``elsewhere`` where it is 0."""
    return (where_set & mask) | (elsewhere & ~mask)


def _signed_byte_sums(filtered: np.ndarray) -> np.ndarray:
    """Per row, the sum of |byte| with bytes read as signed: libpng's measure of a good filter."""
    return np.minimum(filtered, -filtered).sum(axis=1, dtype=np.uint32)
