"""Image file bytes to upscaled image file bytes, with per-stage timings.

The shared path of ``upscaler upscale`` (local files) and of the queue workers (S3 objects):
decode (with limits), run the engine, encode. Storage stays with the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from upscaler.engine import Engine
from upscaler.engine.engine import Progress
from upscaler.images import EXTENSIONS, DecodedImage, Limits, choose_format, decode, encode
from upscaler.jobspec import JobParams
from upscaler.settings import Settings


@dataclass
class ProcessedImage:
    data: bytes
    format: str
    input_size: tuple[int, int]    # width, height (after EXIF orientation)
    output_size: tuple[int, int]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


def limits_from(settings: Settings) -> Limits:
    return Limits(settings.max_input_pixels, settings.max_output_pixels, settings.max_input_bytes)


@dataclass
class UpscaledImage:
    """Decoded and upscaled, not yet encoded: the input's pixels are already let go."""

    pixels: np.ndarray
    format: str                    # the output format chosen for it
    input_size: tuple[int, int]    # width, height (after EXIF orientation)
    timings_ms: dict[str, float]

    @property
    def output_size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


def decode_image(data: bytes, source: str, params: JobParams, limits: Limits) -> tuple[DecodedImage, float]:
    """The pixels (limits checked from the header first) and the milliseconds it took."""
    start = time.perf_counter()
    decoded = decode(data, source, limits, params.outscale)
    return decoded, (time.perf_counter() - start) * 1000


def upscale_decoded(engine: Engine, decoded: DecodedImage, params: JobParams,
                    progress: Progress | None = None) -> UpscaledImage:
    """Wait for the device, upscale; the output format is chosen from the input."""
    # The engine takes the device's turn itself, only while it queues tiles: other jobs in flight
    # decode and encode meanwhile, and the next image's tiles queue behind this one's last.
    timings: dict[str, float] = {"wait": 0.0}
    start = time.perf_counter()
    pixels = engine.upscale(decoded.pixels, params, progress, timings)
    timings["infer"] = (time.perf_counter() - start) * 1000 - timings["wait"]
    return UpscaledImage(pixels, choose_format(params.format, decoded), (decoded.width, decoded.height), timings)


def upscale_image(engine: Engine, data: bytes, source: str, params: JobParams,
                  limits: Limits, progress: Progress | None = None) -> UpscaledImage:
    """Decode, wait for the device, upscale; raises a PermanentError subclass for bad input."""
    decoded, decode_ms = decode_image(data, source, params, limits)
    upscaled = upscale_decoded(engine, decoded, params, progress)
    upscaled.timings_ms = {"decode": decode_ms, **upscaled.timings_ms}
    return upscaled


def process_image(engine: Engine, data: bytes, source: str, params: JobParams,
                  limits: Limits, progress: Progress | None = None) -> ProcessedImage:
    """Upscale one encoded image to encoded bytes (the queue workers stream instead: see
    workers/core/jobs.py); raises a PermanentError subclass for bad input."""
    upscaled = upscale_image(engine, data, source, params, limits, progress)
    start = time.perf_counter()
    encoded = encode(upscaled.pixels, upscaled.format, params.quality)
    timings = {**upscaled.timings_ms, "encode": (time.perf_counter() - start) * 1000}
    return ProcessedImage(encoded, upscaled.format, upscaled.input_size, upscaled.output_size, timings)
