"""Image file bytes to upscaled outputs, with per-stage timings.

The shared path of ``upscaler upscale`` (local files) and of the queue workers (S3 objects):
decode (with limits, into sRGB), run the engine, then write the outputs: the image, encoded
straight into its destination and tagged with its colour space, and, when the job asks for
one, the PBR material set in a folder named after the image (``slate.png`` -> ``slate/``).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, field, replace

import numpy as np

from upscaler.engine import Engine
from upscaler.engine.engine import Progress
from upscaler.imageio import DecodedImage, Limits, choose_format, decode, encode_to
from upscaler.imageio.color.management import SourceColor, output_color
from upscaler.jobspec import JobRequest
from upscaler.settings import Settings
from upscaler.storage import Storage


def limits_from(settings: Settings) -> Limits:
    return Limits(settings.max_input_pixels, settings.max_output_pixels, settings.max_input_bytes)


@dataclass
class UpscaledImage:
    """Decoded and upscaled, not yet encoded: the input's pixels are already let go."""

    pixels: np.ndarray
    format: str                    # the output format chosen for it
    input_size: tuple[int, int]    # width, height (after EXIF orientation)
    timings_ms: dict[str, float]
    color: SourceColor = field(default_factory=SourceColor)  # the source's colour, for the output's tag
    output_size: tuple[int, int] = (0, 0)   # width, height; kept once the pixels are let go

    def __post_init__(self) -> None:
        self.output_size = (self.pixels.shape[1], self.pixels.shape[0])


def decode_image(data: bytes, source: str, request: JobRequest, limits: Limits) -> tuple[DecodedImage, float]:
    """The pixels (limits checked from the header first) and the milliseconds it took."""
    start = time.perf_counter()
    decoded = decode(data, source, limits, request.engine.outscale)
    return decoded, (time.perf_counter() - start) * 1000


def upscale_decoded(engine: Engine, decoded: DecodedImage, request: JobRequest,
                    progress: Progress | None = None) -> UpscaledImage:
    """Wait for the device, upscale; the output format is chosen from the input."""
    # The engine takes the device's turn itself, only while it queues tiles: other jobs in flight
    # decode and encode meanwhile, and the next image's tiles queue behind this one's last.
    timings: dict[str, float] = {"wait": 0.0}
    start = time.perf_counter()
    pixels = engine.upscale(decoded.pixels, request.engine, progress, timings)
    timings["infer"] = (time.perf_counter() - start) * 1000 - timings["wait"]
    return UpscaledImage(pixels, choose_format(request.output.format, decoded), (decoded.width, decoded.height), timings,
                         decoded.color)


def upscale_image(engine: Engine, data: bytes, source: str, request: JobRequest,
                  limits: Limits, progress: Progress | None = None) -> UpscaledImage:
    """Decode, wait for the device, upscale; raises a PermanentError subclass for bad input."""
    decoded, decode_ms = decode_image(data, source, request, limits)
    upscaled = upscale_decoded(engine, decoded, request, progress)
    upscaled.timings_ms = {"decode": decode_ms, **upscaled.timings_ms}
    return upscaled


@dataclass
class Written:
    """What :func:`write_outputs` wrote: the image's size in bytes, the material set's files
    (relative to its folder), warnings worth recording, and per-stage milliseconds."""

    output_bytes: int = 0
    maps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def material_folder(output_uri: str) -> str:
    """Where an output's material set goes: beside it, in a folder named after it."""
    return posixpath.splitext(output_uri)[0] + "/"


def write_outputs(upscaled: UpscaledImage, request: JobRequest, storage: Storage, output_uri: str,
                  metadata: dict[str, str] | None = None, material: str | None = None) -> Written:
    """Write the image (and the material set the job asks for) to ``output_uri``; the pixels are
    let go before the image's last bytes are uploaded. ``material`` overrides the job's category
    (a manifest row's own). "encode" includes waiting for S3 when it is slower than the encoder;
    "upload" is what is left after the last byte was encoded."""
    written = Written(warnings=list(upscaled.color.warnings))
    if request.maps.maps:
        start = time.perf_counter()
        result = write_material_set(upscaled.pixels, request, storage, material_folder(output_uri), metadata,
                                    material or request.material)
        written.maps, written.timings_ms["maps"] = result.files, (time.perf_counter() - start) * 1000
        written.warnings += result.warnings
    tag = output_color(upscaled.color, upscaled.pixels, request.output.color_space, upscaled.format)
    written.warnings += tag.warnings
    start = time.perf_counter()
    with storage.open_write(output_uri, {**(metadata or {}), **tag.s3_metadata()}) as out:
        written.output_bytes = encode_to(upscaled.pixels, upscaled.format, request.output.quality, out,
                                         color=upscaled.color, color_space=request.output.color_space)
        upscaled.pixels = None  # the largest thing a job holds: gone before the upload's last part
        written.timings_ms["encode"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
    written.timings_ms["upload"] = (time.perf_counter() - start) * 1000
    return written


def write_material_set(pixels: np.ndarray, request: JobRequest, storage: Storage, folder: str,
                       metadata: dict[str, str] | None, category: str | None):
    """The PBR maps of ``pixels`` (sRGB base colour) and their glTF, MaterialX and preview files."""
    from upscaler.materials import write_material

    # The two fields a job's map options leave to the job: its category and its wrap-around.
    options = replace(request.maps, category=category or "other", seamless=request.engine.seamless)

    def open_write(name: str):
        return storage.open_write(folder + name, metadata or {})

    return write_material(pixels, open_write, options, name=posixpath.basename(folder.rstrip("/")))
