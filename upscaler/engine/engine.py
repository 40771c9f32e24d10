"""The tiled x4 inference engine: pixel arrays in, larger pixel arrays out.

One :class:`Engine` per process, reused for every image: it caches loaded networks (one per
model) and nothing else, so concurrent calls from several threads never share per-image
state. It knows nothing of queues, storage or databases.

An image flows one way. Its planes (gray or BGR, then alpha) are cut into tiles
(engine/tiling.py) and run through the job's network, or through its model and detail model
mixed per batch (engine/tile_network.py, engine/tile_runs.py); the blended rows go down a chain
of row sinks built for that image (engine/row_sink.py, engine/output_image.py): levels -> crop
-> resize -> store.

Precision: each image runs each network in that network's precision (fp32, or the faster
fp16/bf16 chosen at load). If any batch of an image comes out broken in a reduced precision
(NaN/inf, or black from a non-black input), the network(s) it came from fall back to fp32 for
good and the whole image is computed again with every network in fp32, through a fresh chain,
on the host and the device path alike: :meth:`Engine.upscale` is the one place that does it.
The result is then exactly an fp32 run's. Progress counts the tiles thrown away into its total,
so it never passes the total and ends at it.

Runtimes: a network runs on torch, or on a CPU on OpenVINO (engine/backends.py chooses, per
network); both keep one contract (engine/network_contract.py). The torch network, and torch
itself, are imported only when a network runs on torch: a CPU process whose networks OpenVINO
runs from their cached conversion decodes, tiles, runs and assembles on NumPy alone.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager, Iterator, NamedTuple

import cv2
import numpy as np

from upscaler.engine.backends import NetworkOptions, choose_cpu_runtime, load_network
from upscaler.engine.calibration import CalibrationCache
from upscaler.engine.devices import free_device_memory, resolve_device, tile_batch_size
from upscaler.engine.levels import DeviceLevels, HostLevels, Kind
from upscaler.engine.network_contract import LoadedNetwork
from upscaler.engine.output_image import OutputImage
from upscaler.engine.preserve_color import preserve_color
from upscaler.engine.row_sink import RowSink
from upscaler.engine.strip_resize import resize_in_strips
from upscaler.engine.tile_network import TileNetwork
from upscaler.engine.tile_runs import BrokenOutput, run_on_device, run_on_host
from upscaler.engine.tiling import TilePlan
from upscaler.engine.options import EngineOptions
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD, Settings
from upscaler.zoo.registry import ModelZoo

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tiles done, tiles total); done never passes total
# Seamless mode: input pixels of wrap-around context around the image, and of context around every
# tile's core (capped at the image size; a larger tile_pad wins). x4plus looks far: 16 px of context
# at every seam gives 38.9 dB to the ideal on a 64 px crop cut in 32 px tiles, 12 px tile context
# put a walnut swatch at 38.9 dB; with 64 px the samples and crops measured are at 59-69 dB
# (bench/RESULTS.md, "Seamless mode against the ideal").
SEAMLESS_PAD = 64
# Device-side blending keeps about one window's height of float rows alive across the output
# (engine/tiling.py: RowAssembler); this many, for head-room (the weighted tile pieces, the strip's
# levels), must take under this share of the free device memory.
DEVICE_BANDS = 3
DEVICE_BANDS_SHARE = 0.25


@dataclass
class Engine:
    zoo: ModelZoo
    device_name: str = "auto"
    precision: str = "auto"
    # Called with (model, seconds) after a model is loaded: lets a worker report load times
    # without the engine knowing about any metrics system.
    on_model_loaded: Callable[[str, float], None] | None = None
    # Blend tiles and make the final levels on the device: None = on CUDA when it fits (see
    # _assembles_on_device); True forces it, on any torch device (the tests use it on CPU).
    assemble_on_device: bool | None = None
    cuda_graphs: bool = True  # CUDA: repeated batch shapes replay as captured graphs (engine/graphs.py)
    torch_compile: bool = False  # compile each network's forward at load (engine/compiled.py)
    fused_kernels: bool = False  # CUDA: dense blocks on fused Triton kernels (engine/fused/)
    # Where ``auto`` precision choices are kept between processes (engine/calibration.py); None:
    # measured by every process.
    calibration_dir: Path | None = None
    # What runs networks on a CPU: "torch", "openvino", or "auto" (OpenVINO where it imports:
    # engine/backends.py). The engine's own default is torch; the settings' (from_settings) is auto.
    cpu_runtime: str = "torch"
    # Where networks converted for OpenVINO are kept (engine/openvino_cache.py); None: converted
    # by every process.
    conversion_dir: Path | None = None
    cpu_threads: int = 0  # threads of a CPU network (torch or OpenVINO); 0: the runtime's default
    _networks: dict[str, LoadedNetwork] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _device_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device_name)
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"precision {self.precision!r}: choose auto, fp32, fp16 or bf16")
        if self.device.type == "cpu" and self.precision == "fp16":
            raise ValueError("fp16 is not supported on CPU; use bf16 or fp32")
        # On a GPU the CPU runtime is never used: nothing to import or warn about.
        self.runtime = choose_cpu_runtime(self.cpu_runtime) if self.device.type == "cpu" else "torch"

    @classmethod
    def from_settings(cls, zoo: ModelZoo, settings: Settings, device: str | None = None,
                      precision: str | None = None, **options) -> Engine:
        """The engine as configured (UPSCALER_DEVICE, _PRECISION, _CUDA_GRAPHS, _TORCH_COMPILE,
        _CPU_RUNTIME, _TORCH_THREADS); ``device`` and ``precision`` override the settings when given."""
        return cls(zoo, device or settings.device, precision or settings.precision,
                   cuda_graphs=settings.cuda_graphs, torch_compile=settings.torch_compile,
                   fused_kernels=settings.fused_kernels,
                   calibration_dir=settings.data_dir / "calibration", cpu_runtime=settings.cpu_runtime,
                   conversion_dir=settings.data_dir / "openvino", cpu_threads=settings.torch_threads, **options)

    def network(self, model: str) -> LoadedNetwork:
        """The loaded network for a model name or weight file path (loaded once, then cached)."""
        with self._lock:
            net = self._networks.get(model)
            if net is None:
                started = time.perf_counter()
                net = load_network(self.zoo, model, NetworkOptions(
                    self.device, self.precision, self.runtime, CalibrationCache(self.calibration_dir),
                    self.conversion_dir, self.cpu_threads, self.cuda_graphs, self.torch_compile,
                    self.fused_kernels))
                window = DEFAULT_TILE + 2 * DEFAULT_TILE_PAD  # the first compilation is made for it
                net.compile(self._batch_size(net, window), window)
                log.info("loaded %s (%s, x%d) on %s in %s, running on %s", net.name, net.spec.arch, net.scale,
                         self.device, net.precision, net.runtime)
                self._networks[model] = net
                if self.on_model_loaded:
                    self.on_model_loaded(model, time.perf_counter() - started)
            return net

    def _batch_size(self, net: LoadedNetwork, window: int) -> int:
        """Tiles per forward pass for windows of this size, from the device's free memory."""
        return tile_batch_size(self.device, window, net.scale, int(net.spec.params.get("num_feat", 64)))

    def tile_network(self, options: EngineOptions) -> TileNetwork:
        """What the job's tiles run through: its model, or its model and detail model mixed by
        ``options.detail`` (engine/tile_network.py); the networks it needs are loaded now."""
        return TileNetwork.for_job(options, self.network)

    @contextmanager
    def device_turn(self) -> Iterator[None]:
        """Hold the device for one image's tiles (re-entrant). Threads may decode and encode other
        images meanwhile (a worker keeps jobs in flight), but only one image queues its tiles at a
        time: tile batches are sized from the free device memory, which two images would share."""
        with self._device_lock:
            yield

    def upscale(self, pixels: np.ndarray, options: EngineOptions = EngineOptions(),
                progress: Progress | None = None, timings: dict[str, float] | None = None) -> np.ndarray:
        """Gray (HxW), BGR (HxWx3) or BGRA (HxWx4), uint8 or uint16 -> the same layout, enlarged.
        ``timings``, if given, gets "wait": milliseconds spent waiting for the device's turn."""
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
            raise ValueError(f"pixels must be HxW, HxWx3 or HxWx4, not {pixels.shape}")
        tiles = self.tile_network(options)
        image = TiledImage.of(pixels, options)
        plan = image.plan(options.tile)
        planes = 2 if image.channels == (4,) and options.alpha == "model" else 1
        count = TileCount(progress, planes * plan.count)
        if tiles.reduced:
            try:
                return self._upscale_in(tiles, image, options, count, timings)
            except BrokenOutput as broken:
                culprits = broken.networks  # out of the handler: its traceback holds the abandoned result
            for net in culprits:
                net.fall_back_to_fp32()
            count.start_again()
        return self._upscale_in(tiles.in_fp32(), image, options, count, timings)

    def _upscale_in(self, tiles: TileNetwork, image: TiledImage, options: EngineOptions, count: TileCount,
                    timings: dict[str, float] | None) -> np.ndarray:
        """The image once, every batch in the precisions ``tiles`` fixes, into a result array and
        chains of its own."""
        source, s = image.source, tiles.scale
        output = OutputImage(source.shape[:2], s, image.box, image.channels, source.dtype, options.outscale,
                             whole=options.preserve_color)
        plan = image.plan(options.tile)
        if source.ndim == 2:
            self._run_plane(tiles, source, "gray", output.plane(), plan, options, count, timings)
        else:
            self._run_plane(tiles, source[:, :, :3], "color", output.plane((Ellipsis, slice(0, 3))),
                            plan, options, count, timings)
        if source.ndim == 3 and source.shape[2] == 4:
            alpha, alpha_sink = source[:, :, 3], output.plane((Ellipsis, 3))
            if options.alpha == "model":
                self._run_plane(tiles, alpha, "alpha", alpha_sink, plan, options, count, timings)
            else:
                resize_in_strips(alpha, alpha.shape[0] * s, alpha.shape[1] * s, cv2.INTER_CUBIC, alpha_sink)
        return output.finish((lambda out: preserve_color(source, out)) if options.preserve_color else None)

    def _run_plane(self, tiles: TileNetwork, plane: np.ndarray, kind: Kind, sink: RowSink, plan: TilePlan,
                   options: EngineOptions, count: TileCount, timings: dict[str, float] | None) -> None:
        """``plane``'s tiles (``plan``) through the network(s); ``sink`` gets its finished levels and
        is closed."""
        window = max(plan.rows.window, plan.cols.window)
        # A mix runs its networks one after the other on each batch: the batch must fit the widest.
        batch_size = options.batch_size or min(self._batch_size(net, window) for net in tiles.networks)

        def turn() -> ContextManager:
            return waiting_for(self.device_turn(), timings)

        if self._assembles_on_device(plan, tiles):
            run_on_device(tiles, plane, plan, batch_size, DeviceLevels(kind, plane.dtype, sink),
                          count.advance, turn)
        else:
            run_on_host(tiles, plane, plan, batch_size, HostLevels(kind, plane.dtype, sink),
                        count.advance, turn)

    def _assembles_on_device(self, plan: TilePlan, tiles: TileNetwork) -> bool:
        """On CUDA, unless the float bands of a window row would take a real share of the free
        device memory (a very wide image on a small card): then the host blends. Only torch
        networks have a device to blend on."""
        if any(net.runtime != "torch" for net in tiles.networks):
            return False
        if self.assemble_on_device is not None:
            return self.assemble_on_device
        if self.device.type != "cuda":
            return False
        band_bytes = plan.rows.window * tiles.scale * plan.cols.length * tiles.scale * 3 * 4
        return DEVICE_BANDS * band_bytes < DEVICE_BANDS_SHARE * free_device_memory(self.device)


class TileCount:
    """Tiles done and tiles to do, told to ``progress`` after every batch. A redo adds the tiles
    it throws away to the total: done never passes the total and ends equal to it."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def advance(self, tiles: int) -> None:
        self.done += tiles
        if self.progress:
            self.progress(self.done, self.total)

    def start_again(self) -> None:
        self.total += self.done


class TiledImage(NamedTuple):
    source: np.ndarray               # the pixels the tiles are cut from
    box: tuple[int, int, int, int]   # (top, left, height, width) of the image in them
    channels: tuple[int, ...]        # the result's last axis: () for gray, (3,) or (4,)
    tile_pad: int                    # context around each tile's core, in input px

    @classmethod
    def of(cls, pixels: np.ndarray, options: EngineOptions) -> TiledImage:
        height, width = pixels.shape[:2]
        if not options.seamless:
            return cls(pixels, (0, 0, height, width), pixels.shape[2:], options.tile_pad)
        # Pad with the image's own opposite edges (wrap-around) and keep the centre: border tiles
        # see the context they will sit next to when the texture is tiled. The tiles cut only the
        # image and take as much context from each other as from the padding (engine/tiling.py),
        # so every seam of the tiled texture, inner or wrap-around, is made alike.
        pad = min(max(options.tile_pad, SEAMLESS_PAD), height, width)
        padded = np.pad(pixels, ((pad, pad), (pad, pad)) + ((0, 0),) * (pixels.ndim - 2), mode="wrap")
        return cls(padded, (pad, pad, height, width), pixels.shape[2:], pad)

    def plan(self, tile: int) -> TilePlan:
        """Where its tiles go (``tile``: core edge in input px; 0 = one window)."""
        top, left, height, width = self.box
        return TilePlan.for_image(height, width, tile, self.tile_pad, margin=top)


@contextmanager
def waiting_for(turn: ContextManager, timings: dict[str, float] | None) -> Iterator[None]:
    """Enter ``turn``; add the milliseconds that took to ``timings["wait"]``, if given."""
    start = time.perf_counter()
    with turn:
        if timings is not None:
            timings["wait"] = timings.get("wait", 0.0) + (time.perf_counter() - start) * 1000
        yield
