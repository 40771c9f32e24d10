"""The tiled x4 inference engine: pixel arrays in, larger pixel arrays out.

One :class:`Engine` per process, reused for every image: it caches loaded networks (one per
model) and nothing else, so concurrent calls from several threads never share per-image
state. It knows nothing of queues, storage or databases.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterator, Literal

import cv2
import numpy as np
import torch

from upscaler.engine.color import preserve_color
from upscaler.engine.device_rows import DeviceRows, Kind, final_rows_numpy
from upscaler.engine.devices import free_device_memory, pick_precision, resolve_device, tile_batch_size
from upscaler.engine.network import Network
from upscaler.engine.output_image import OutputImage
from upscaler.engine.strip_resize import resize_in_strips
from upscaler.engine.tiling import RowAssembler, Tile, TilePlan
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD, Settings
from upscaler.validation import check_upscale_params
from upscaler.zoo.registry import DEFAULT_MODEL, ModelZoo

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tiles done, tiles total)
# Input pixels of wrap-around context, at least (capped at the image size). x4plus looks far:
# on a 64 px tileable pattern 16 px of context gives 20.6 dB to the ideal (the centre of the
# upscaled 3x3 tiling), 32 px 27.8 dB; on a 160 px tileable meadow 96 px gives a seam score 14%
# off the ideal's, 128 px 3% off at 47 dB. So: 128 (costs (n + 256)^2 / n^2 of the work).
SEAMLESS_MIN_PAD = 128
# Device-side blending keeps about this many float window-row bands alive at once (the row being
# filled, the overlap kept from the one before, the strip being finished) and is used only while
# they take under this share of the free device memory.
DEVICE_BANDS = 3
DEVICE_BANDS_SHARE = 0.25


@dataclass(frozen=True)
class UpscaleOptions:
    model: str = DEFAULT_MODEL
    tile: int = DEFAULT_TILE          # tile edge in input pixels; 0 = whole image
    tile_pad: int = DEFAULT_TILE_PAD  # context in input pixels around each tile, cross-faded
    outscale: float = 4.0    # final factor; the network's own scale is resampled to it
    alpha: Literal["bicubic", "model"] = "bicubic"  # how an alpha channel is enlarged
    batch_size: int | None = None  # tiles per forward pass; None = sized from the device
    seamless: bool = False         # tileable input -> tileable output: wrap-around context at the borders
    preserve_color: bool = False   # keep the input's low-frequency colour (see engine/color.py)

    def __post_init__(self) -> None:
        check_upscale_params(self.tile, self.tile_pad, self.outscale, self.alpha)
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")


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
    _networks: dict[str, Network] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _device_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device_name)
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"precision {self.precision!r}: choose auto, fp32, fp16 or bf16")
        if self.device.type == "cpu" and self.precision == "fp16":
            raise ValueError("fp16 is not supported on CPU; use bf16 or fp32")

    @classmethod
    def from_settings(cls, zoo: ModelZoo, settings: Settings, device: str | None = None,
                      precision: str | None = None, **options) -> Engine:
        """The engine as configured (UPSCALER_DEVICE, _PRECISION, _CUDA_GRAPHS, _TORCH_COMPILE);
        ``device`` and ``precision`` override the settings when given."""
        return cls(zoo, device or settings.device, precision or settings.precision,
                   cuda_graphs=settings.cuda_graphs, torch_compile=settings.torch_compile, **options)

    def network(self, model: str) -> Network:
        """The loaded network for a model name or weight file path (loaded once, then cached)."""
        with self._lock:
            net = self._networks.get(model)
            if net is None:
                started = time.perf_counter()
                info, state = self.zoo.load(model)
                start_precision = "fp32" if self.precision == "auto" else self.precision
                net = Network(info.name, info.spec, state, self.device, start_precision, self.cuda_graphs,
                              self.torch_compile)
                if self.precision == "auto":
                    net.precision = pick_precision(net, self.device)
                window = DEFAULT_TILE + 2 * DEFAULT_TILE_PAD  # the first compilation is made for it
                net.compile(self._batch_size(net, window), window)
                log.info("loaded %s (%s, x%d) on %s in %s", info.name, info.spec.arch, net.scale,
                         self.device, net.precision)
                self._networks[model] = net
                if self.on_model_loaded:
                    self.on_model_loaded(model, time.perf_counter() - started)
            return net

    def _batch_size(self, net: Network, window: int) -> int:
        """Tiles per forward pass for windows of this size, from the device's free memory."""
        return tile_batch_size(self.device, window, net.scale, int(net.spec.params.get("num_feat", 64)))

    @contextmanager
    def device_turn(self) -> Iterator[None]:
        """Hold the device for one image's tiles (re-entrant). Threads may decode and encode other
        images meanwhile (a worker keeps jobs in flight), but only one image queues its tiles at a
        time: tile batches are sized from the free device memory, which two images would share."""
        with self._device_lock:
            yield

    def upscale(self, pixels: np.ndarray, options: UpscaleOptions = UpscaleOptions(),
                progress: Progress | None = None, timings: dict[str, float] | None = None) -> np.ndarray:
        """Gray (HxW), BGR (HxWx3) or BGRA (HxWx4), uint8 or uint16 -> the same layout, enlarged.
        ``timings``, if given, gets "wait": milliseconds spent waiting for the device's turn."""
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
            raise ValueError(f"pixels must be HxW, HxWx3 or HxWx4, not {pixels.shape}")
        net = self.network(options.model)
        s = net.scale
        height, width = pixels.shape[:2]
        source, box = pixels, (0, 0, height, width)
        if options.seamless:
            # Pad with the image's own opposite edges (wrap-around) and keep the centre: border
            # tiles see the context they will sit next to when the texture is tiled.
            pad = min(max(options.tile_pad, SEAMLESS_MIN_PAD), height, width)
            source = np.pad(pixels, ((pad, pad), (pad, pad)) + ((0, 0),) * (pixels.ndim - 2), mode="wrap")
            box = (pad, pad, height, width)
        maxval = float(np.iinfo(pixels.dtype).max)
        gray = source.ndim == 2
        color = source if gray else source[:, :, :3]
        alpha = source[:, :, 3] if source.ndim == 3 and source.shape[2] == 4 else None
        output = OutputImage(source.shape[:2], s, box, pixels.shape[2:], pixels.dtype, options.outscale,
                             whole=options.preserve_color)

        tiles_total = TilePlan.for_image(*source.shape[:2], options.tile, options.tile_pad).count
        passes = 2 if alpha is not None and options.alpha == "model" else 1
        done = [0]

        def report(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], tiles_total * passes)

        place_color = output.placer(Ellipsis if gray else (Ellipsis, slice(0, 3)))
        self._run_tiled(net, color, maxval, options, "gray" if gray else "color", place_color, report, timings)
        if alpha is not None:
            place_alpha = output.placer((Ellipsis, 3))
            if options.alpha == "model":
                self._run_tiled(net, alpha, maxval, options, "alpha", place_alpha, report, timings)
            else:
                resize_in_strips(alpha, alpha.shape[0] * s, alpha.shape[1] * s, cv2.INTER_CUBIC, place_alpha)
        return output.finish((lambda out: preserve_color(source, out)) if options.preserve_color else None)

    def _run_tiled(self, net: Network, source: np.ndarray, maxval: float, options: UpscaleOptions, kind: Kind,
                   place: Callable[[int, np.ndarray], None], report: Callable[[int], None],
                   timings: dict[str, float] | None) -> None:
        """``source``: the 8/16-bit gray or BGR pixels; each window is made float RGB only when its
        batch runs, so the host never holds a float copy of the whole input next to the output.
        ``place(top, levels)`` gets the finished output rows from ``top`` on, as integer levels."""
        plan = TilePlan.for_image(source.shape[0], source.shape[1], options.tile, options.tile_pad)
        batch_size = options.batch_size or self._batch_size(net, max(plan.rows.window, plan.cols.window))
        batches = _batches(list(plan.tiles()), batch_size)
        if self._assembles_on_device(plan, net.scale):
            self._run_tiled_on_device(net, source, maxval, plan, batches, kind, place, report, timings)
            return
        assembler = RowAssembler(plan, net.scale, 3,
                                 lambda top, rows: place(top, final_rows_numpy(rows, kind, maxval)))
        pending = None

        def finish(batch, running) -> None:
            for tile, output in zip(batch, running.result()):
                assembler.add(tile, output)
            report(len(batch))

        with waiting_for(self.device_turn(), timings):
            # One batch ahead: on CUDA the device runs batch k+1 while the host assembles batch k.
            for batch in batches:
                running = net.submit(_window_stack(source, plan, batch, maxval))
                if pending:
                    finish(*pending)
                pending = (batch, running)
            if pending:
                finish(*pending)
        assert assembler.done

    def _run_tiled_on_device(self, net: Network, source: np.ndarray, maxval: float, plan: TilePlan,
                             batches: list[list[Tile]], kind: Kind, place: Callable[[int, np.ndarray], None],
                             report: Callable[[int], None], timings: dict[str, float] | None) -> None:
        """Blending and the final levels on the device (engine/device_rows.py): the host only stacks
        windows and places finished rows, and never waits for the device inside its turn."""
        rows = DeviceRows(kind, maxval, place)
        assembler = RowAssembler(plan, net.scale, 3, rows.write, device=self.device)
        precision, broken = net.precision, []
        with waiting_for(self.device_turn(), timings), torch.inference_mode():
            for batch in batches:
                outputs, bad = net.launch_on_device(_window_stack(source, plan, batch, maxval), precision)
                for tile, output in zip(batch, outputs):
                    assembler.add(tile, output)
                broken.append(bad)
                report(len(batch))
        # Outside the turn: the next image's batches are queued behind this one's last ones while
        # this thread waits for its rows to come back.
        rows.drain()
        assert assembler.done
        if precision != "fp32" and bool(torch.stack(broken).any()):
            net.fall_back_to_fp32()  # then the whole image again: every row is placed anew
            self._run_tiled_on_device(net, source, maxval, plan, batches, kind, place, report, timings)

    def _assembles_on_device(self, plan: TilePlan, scale: int) -> bool:
        """On CUDA, unless the float bands of a window row would take a real share of the free
        device memory (a very wide image on a small card): then the host blends."""
        if self.assemble_on_device is not None:
            return self.assemble_on_device
        if self.device.type != "cuda":
            return False
        band_bytes = plan.rows.window * scale * plan.cols.length * scale * 3 * 4
        return DEVICE_BANDS * band_bytes < DEVICE_BANDS_SHARE * free_device_memory(self.device)


@contextmanager
def waiting_for(turn: ContextManager, timings: dict[str, float] | None) -> Iterator[None]:
    """Enter ``turn``; add the milliseconds that took to ``timings["wait"]``, if given."""
    start = time.perf_counter()
    with turn:
        if timings is not None:
            timings["wait"] = timings.get("wait", 0.0) + (time.perf_counter() - start) * 1000
        yield


def _batches(tiles: list[Tile], size: int) -> list[list[Tile]]:
    return [tiles[first : first + size] for first in range(0, len(tiles), size)]


def _window_stack(source: np.ndarray, plan: TilePlan, batch: list[Tile], maxval: float) -> np.ndarray:
    win_h, win_w = plan.rows.window, plan.cols.window
    return np.stack([_to_rgb_float(source[t.y : t.y + win_h, t.x : t.x + win_w], maxval) for t in batch])


def _to_rgb_float(color: np.ndarray, maxval: float) -> np.ndarray:
    if color.ndim == 2:
        return np.repeat((color.astype(np.float32) / maxval)[:, :, None], 3, axis=2)
    return np.ascontiguousarray(color[:, :, ::-1], dtype=np.float32) / np.float32(maxval)
