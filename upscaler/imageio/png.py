"""PNG, written from strips of rows: no full-size encoded or pixel copy is ever held.

We write PNG ourselves because neither OpenCV nor Pillow can encode one from strips of rows:
cv2.imencode holds the whole encoded file (and `tobytes` made a second copy), Pillow wants the
whole image as one of its own images (another full-size copy). PNG itself is simple: filtered
rows through one zlib stream, cut into IDAT chunks. Rows are filtered as libpng does by default
(per row, the filter whose output has the smallest sum of absolute signed bytes), which keeps
sizes close to libpng's; the filtering is vectorised per strip with NumPy.

Strips are filtered and compressed on several threads at once (NumPy, OpenCV and zlib all
release the GIL), as pigz does: each strip is its own raw deflate segment, primed with the last
32 KiB of the data before it (all deflate may refer back to) and ended on a byte boundary, so
the segments joined in order are one valid zlib stream, within a fraction of a percent of the
size one compressor would give. Only the Adler-32 checksum runs in order, and it is cheap.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from contextlib import closing
from typing import BinaryIO

import cv2
import numpy as np

from upscaler.errors import InvalidImageError
from upscaler.in_flight import map_in_flight

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_STRIP_BYTES = 256 * 2**10  # raw bytes per strip: amortises NumPy calls, stays in cache (fastest measured)
PNG_IDAT_BYTES = 2**20        # compressed bytes per IDAT chunk
PNG_ZLIB_LEVEL = 3            # within a few percent of the smallest size at a fraction of the time of 9
# Threads per PNG: an encode is what stands between a finished image and its upload, so a big one
# should not take one core for tens of seconds; more than 8 gains little on strips this size.
# A worker whose network runs on the CPU gives the encoder only the cores torch leaves free
# (workers/runtime.py, set_png_threads): there, inference is the bottleneck an encode would slow.
PNG_THREADS = max(1, min(8, len(os.sched_getaffinity(0))))
ZLIB_WINDOW = 32 * 2**10      # how far back deflate may refer: the history each strip is primed with
_PNG_COLOR_TYPES = {1: 0, 3: 2, 4: 6}   # channels -> gray, RGB, RGBA
_TO_PNG_ORDER = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}


def set_png_threads(threads: int) -> None:
    """Threads for every PNG this process encodes from now on (at least 1)."""
    global PNG_THREADS
    PNG_THREADS = max(1, threads)


def write_png(pixels: np.ndarray, out: BinaryIO, chunks: Sequence[tuple[bytes, bytes]] = ()) -> int:
    """Write ``pixels`` (OpenCV layout, 8/16-bit) as a PNG to ``out``; the bytes written. ``chunks``:
    ancillary (type, payload) chunks placed before the image data: colour (iCCP, sRGB) must be."""
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    channels = 1 if pixels.ndim == 2 else pixels.shape[-1]
    if (pixels.dtype not in (np.uint8, np.uint16) or pixels.ndim not in (2, 3) or pixels.size == 0
            or channels not in _PNG_COLOR_TYPES):
        raise InvalidImageError(f"could not encode a {pixels.shape} {pixels.dtype} image as png")
    height, width = pixels.shape[:2]
    pixel_bytes = channels * pixels.dtype.itemsize
    header = struct.pack(">IIBBBBB", width, height, 8 * pixels.dtype.itemsize, _PNG_COLOR_TYPES[channels],
                         0, 0, 0)  # deflate, adaptive filtering, no interlace
    out.write(PNG_SIGNATURE)
    written = len(PNG_SIGNATURE) + _write_png_chunk(out, b"IHDR", header)
    for kind, payload in chunks:
        written += _write_png_chunk(out, kind, payload)
    row_bytes = width * pixel_bytes
    rows_per_strip = max(1, PNG_STRIP_BYTES // row_bytes)
    history_rows = -(-ZLIB_WINDOW // (row_bytes + 1))  # rows whose scanlines cover the window
    idat = _IdatWriter(out)
    adler = zlib.adler32(b"")
    tops = range(0, height, rows_per_strip)

    def deflate(top: int) -> tuple[np.ndarray, bytes]:
        stop = min(top + rows_per_strip, height)
        return _deflate_strip(pixels, top, stop, pixel_bytes, history_rows, stop >= height)

    with closing(map_in_flight(deflate, tops, PNG_THREADS, thread_name="png")) as segments:
        for data, compressed in segments:
            adler = zlib.adler32(data, adler)
            idat.write(compressed)
    written += idat.close(adler)
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


def _deflate_strip(pixels: np.ndarray, top: int, stop: int, pixel_bytes: int, history_rows: int,
                   last: bool) -> tuple[np.ndarray, bytes]:
    """Rows ``top:stop`` as scanlines, and those compressed as one raw deflate segment that may refer
    back into the scanlines before it (re-filtered here: filtering is cheaper than waiting for them)."""
    first = max(0, top - history_rows)
    lines = _scanlines(pixels, first, stop, pixel_bytes)
    history, data = lines[: top - first], lines[top - first :]
    if history.size:
        compressor = zlib.compressobj(PNG_ZLIB_LEVEL, zlib.DEFLATED, -15,
                                      zdict=history.tobytes()[-ZLIB_WINDOW:])
    else:
        compressor = zlib.compressobj(PNG_ZLIB_LEVEL, zlib.DEFLATED, -15)
    # A sync flush ends the segment on a byte boundary without ending the stream; the last one ends it.
    compressed = compressor.compress(data) + compressor.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)
    return data, compressed


class _IdatWriter:
    """The zlib stream (header, deflate segments, Adler-32), written out as IDAT chunks of bounded size."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        # The two header bytes zlib itself writes for this level (method, window, level hint, check).
        self._pending: list[bytes] = [zlib.compress(b"", PNG_ZLIB_LEVEL)[:2]]
        self._pending_bytes = 2
        self._written = 0

    def write(self, compressed: bytes) -> None:
        self._pending.append(compressed)
        self._pending_bytes += len(compressed)
        if self._pending_bytes >= PNG_IDAT_BYTES:
            self._flush()

    def close(self, adler: int) -> int:
        self.write(struct.pack(">I", adler))
        self._flush()
        return self._written

    def _flush(self) -> None:
        if self._pending:
            self._written += _write_png_chunk(self._out, b"IDAT", b"".join(self._pending))
            self._pending, self._pending_bytes = [], 0


def _scanlines(pixels: np.ndarray, start: int, stop: int, pixel_bytes: int) -> np.ndarray:
    """Rows ``start:stop`` as PNG scanlines: filter type byte + filtered bytes, per row."""
    rows = _png_byte_rows(pixels[start:stop])
    above_first = _png_byte_rows(pixels[start - 1 : start])[0] if start else np.zeros(rows.shape[1], np.uint8)
    above = np.concatenate([above_first[None], rows[:-1]])
    candidates = _filter_candidates(rows, above, pixel_bytes)
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
