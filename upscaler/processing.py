"""Image file bytes to upscaled outputs, with per-stage timings.

The shared path of ``upscaler upscale`` (local files) and of the queue workers (S3 objects):
decode (with limits, into sRGB), run the engine, make the result board-ready when the job asks
(``board_step.py``: a tile, whole repeats, the real size), then write the outputs: the image, encoded
straight into its destination and tagged with its colour space, and, when the job asks for
one, the PBR material set in a folder named after the image (``slate.png`` -> ``slate/``),
staged under the job's id and promoted whole (:func:`write_outputs`).
"""

from __future__ import annotations

import logging
import os
import posixpath
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from upscaler.engine import Engine
from upscaler.engine.engine import Progress
from upscaler.imageio import DecodedImage, Limits, choose_format, decode, encode_to
from upscaler.imageio.color.management import SourceColor, output_color
from upscaler.jobspec import JobRequest
from upscaler.settings import Settings
from upscaler.storage import RedirectedWriteError, Storage, is_s3, set_folder

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from upscaler.board_step import BoardStep


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
    (relative to its folder), warnings worth recording, per-stage milliseconds, and the
    board-ready report."""

    output_bytes: int = 0
    maps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    board: dict | None = None   # the board-ready step's report, when the job asked for it


def material_folder(output_uri: str) -> str:
    """Where an output's material set goes: beside it, in a folder named after it."""
    return set_folder(output_uri)


def staging_folder(output_uri: str, stage: str) -> str:
    """Where a job's material set is written before it is promoted: a hidden folder beside the
    set's, named after the job (``stage``: its id), so that nothing else ever writes there."""
    parent, name = posixpath.split(set_folder(output_uri).rstrip("/"))
    return posixpath.join(parent, f".{name}.{stage}.staging") + "/"


def write_outputs(upscaled: UpscaledImage, request: JobRequest, storage: Storage, output_uri: str,
                  metadata: dict[str, str] | None = None, material: str | None = None, stage: str | None = None,
                  keep_out_of: Sequence[str] = (), check: Callable[..., None] | None = None) -> Written:
    """Write the image (and the material set the job asks for) to ``output_uri``; the pixels are
    let go before the image's last bytes are uploaded. ``material`` overrides the job's category
    (a manifest row's own). "encode" includes waiting for S3 when it is slower than the encoder;
    "upload" is what is left after the last byte was encoded.

    A material set is visible whole or not at all: written first under the job's own staging
    folder (``stage``, the job's id; a fresh name if none), then promoted into its folder, maps
    first and the documents that name them last, then the image is written. If anything fails,
    the staging folder and whatever this call promoted are deleted before the error goes on.
    ``keep_out_of``: local folders no file may really land in (see ``Storage.open_write``).
    ``check`` is called after each map of the set (a job's soft time limit raises there)."""
    written = Written(warnings=list(upscaled.color.warnings))
    board = None
    if request.board_ready:  # the image itself becomes the tile (or keeps its size, with a warning)
        from upscaler.board_step import make_ready

        upscaled.pixels, board = make_ready(upscaled.pixels, request.board, material or request.material)
        upscaled.output_size = (upscaled.pixels.shape[1], upscaled.pixels.shape[0])
        written.board, written.warnings = board.report, written.warnings + board.warnings
    promoted: list[str] = []
    staged = staging_folder(output_uri, stage or uuid.uuid4().hex) if request.makes_maps else None
    try:
        if staged is not None:
            start = time.perf_counter()
            result = write_material_set(upscaled.pixels, request, storage, staged, metadata,
                                        material or request.material, material_name(output_uri), keep_out_of,
                                        board, check)
            folder = material_folder(output_uri)
            for name in result.files:  # in writing order: the documents come last
                storage.move(staged + name, folder + name, keep_out_of)
                promoted.append(folder + name)
            storage.delete_folder(staged)
            written.maps, written.timings_ms["maps"] = result.files, (time.perf_counter() - start) * 1000
            written.warnings += result.warnings
        tag = output_color(upscaled.color, upscaled.pixels, request.output.color_space, upscaled.format)
        written.warnings += tag.warnings
        start = time.perf_counter()
        with storage.open_write(output_uri, {**(metadata or {}), **tag.s3_metadata()}, keep_out_of=keep_out_of) as out:
            written.output_bytes = encode_to(upscaled.pixels, upscaled.format, request.output.quality, out,
                                             color=upscaled.color, color_space=request.output.color_space)
            upscaled.pixels = None  # the largest thing a job holds: gone before the upload's last part
            written.timings_ms["encode"] = (time.perf_counter() - start) * 1000
            start = time.perf_counter()
        written.timings_ms["upload"] = (time.perf_counter() - start) * 1000
    except BaseException:
        if staged is not None:
            discard_quietly(storage, staged, promoted)
        raise
    return written


def discard_quietly(storage: Storage, staged: str | None, objects: Sequence[str]) -> None:
    """Delete a staging folder and objects, on the way out of a failure: a delete that fails too
    is logged, never raised over the failure being reported."""
    try:
        if staged is not None:
            storage.delete_folder(staged)
        for uri in objects:
            storage.delete(uri)
        if objects:
            storage.remove_empty_folder(posixpath.dirname(objects[0]))
    except Exception as exc:  # the first error is the one the job reports
        log.warning("could not delete the partial outputs %s: %s", [staged, *objects], exc)


def source_folders(source_uri: str) -> list[str]:
    """The local folders a job's outputs must never really land in: its source's."""
    return [] if is_s3(source_uri) else [os.path.dirname(os.path.abspath(source_uri))]


def discard_job_outputs(storage: Storage, output_uri: str, source_uri: str, stage: str, makes_set: bool,
                        finished: bool) -> None:
    """What a failed job may have left: its staging folder, and with ``finished`` (no other live
    job writes its output) its image and the files of its set; never a file that a symlink
    leads into its source's folder."""
    from upscaler.materials.names import SET_FILES

    if makes_set:
        storage.delete_folder(staging_folder(output_uri, stage))
    if not finished:
        return
    objects = [output_uri] + ([material_folder(output_uri) + name for name in SET_FILES] if makes_set else [])
    for uri in objects:
        try:
            storage.delete(uri, keep_out_of=source_folders(source_uri))
        except RedirectedWriteError:
            log.warning("%s leads into its source's folder: not deleted", uri)
    if makes_set:
        storage.remove_empty_folder(material_folder(output_uri))


def material_name(output_uri: str) -> str:
    """The name a set's documents give the material: its folder's."""
    return posixpath.basename(material_folder(output_uri).rstrip("/"))


def write_material_set(pixels: np.ndarray, request: JobRequest, storage: Storage, folder: str,
                       metadata: dict[str, str] | None, category: str | None, name: str | None = None,
                       keep_out_of: Sequence[str] = (), board: BoardStep | None = None,
                       check: Callable[..., None] | None = None):
    """The PBR maps of ``pixels`` (sRGB base colour) and their glTF, MaterialX and preview files,
    written into ``folder``; ``name``: the material's (default: the folder's). Made with
    wrap-around when the board-ready step made the image a tile, at its real size and with its
    warnings on the preview page."""
    from upscaler.materials import write_material

    # The fields a job's map options leave to the job: its category and its wrap-around (the
    # engine's seamless, or a tile the board-ready step made).
    seamless = request.engine.seamless or (board is not None and board.tileable)
    options = replace(request.maps, category=category or "other", seamless=seamless)

    def open_write(name: str):
        return storage.open_write(folder + name, metadata or {}, keep_out_of=keep_out_of)

    return write_material(pixels, open_write, options, name=name or posixpath.basename(folder.rstrip("/")),
                          size_mm=board.size_mm if board else None, warnings=board.warnings if board else (),
                          on_map=check)
