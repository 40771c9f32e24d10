"""Image file bytes to upscaled image file bytes, with per-stage timings.

The shared path of ``upscaler upscale`` (local files) and of the queue workers (S3 objects):
decode (with limits), run the engine, encode. Storage stays with the caller.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from upscaler.engine import Engine, UpscaleOptions
from upscaler.engine.engine import Progress
from upscaler.images import EXTENSIONS, Limits, choose_format, decode, encode
from upscaler.settings import Settings
from upscaler.validation import check_quality


@dataclass(frozen=True)
class OutputOptions:
    format: str = "auto"   # auto | png | jpeg | webp | tiff
    quality: int = 95      # JPEG / WebP quality, 1-100

    def __post_init__(self) -> None:
        check_quality(self.quality)


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


def process_image(engine: Engine, data: bytes, source: str, options: UpscaleOptions,
                  output: OutputOptions, limits: Limits, progress: Progress | None = None) -> ProcessedImage:
    """Upscale one encoded image; raises a PermanentError subclass for bad input."""
    timings: dict[str, float] = {}
    start = time.perf_counter()
    decoded = decode(data, source, limits, options.outscale)
    timings["decode"] = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    pixels = engine.upscale(decoded.pixels, options, progress)
    timings["infer"] = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    fmt = choose_format(output.format, decoded)
    encoded = encode(pixels, fmt, output.quality)
    timings["encode"] = (time.perf_counter() - start) * 1000
    return ProcessedImage(encoded, fmt, (decoded.width, decoded.height),
                          (pixels.shape[1], pixels.shape[0]), timings)
