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
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator, Literal

import cv2
import numpy as np

from upscaler.engine.color import preserve_color
from upscaler.engine.devices import pick_precision, resolve_device, tile_batch_size
from upscaler.engine.network import Network
from upscaler.engine.tiling import RowAssembler, TilePlan
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD
from upscaler.validation import check_upscale_params
from upscaler.zoo.registry import DEFAULT_MODEL, ModelZoo

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tiles done, tiles total)
# Input pixels of wrap-around context, at least (capped at the image size). x4plus looks far:
# on a 64 px tileable pattern 16 px of context gives 20.6 dB to the ideal (the centre of the
# upscaled 3x3 tiling), 32 px 27.8 dB; on a 160 px tileable meadow 96 px gives a seam score 14%
# off the ideal's, 128 px 3% off at 47 dB. So: 128 (costs (n + 256)^2 / n^2 of the work).
SEAMLESS_MIN_PAD = 128


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
    _networks: dict[str, Network] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _device_lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.device = resolve_device(self.device_name)
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError(f"precision {self.precision!r}: choose auto, fp32, fp16 or bf16")
        if self.device.type == "cpu" and self.precision == "fp16":
            raise ValueError("fp16 is not supported on CPU; use bf16 or fp32")

    def network(self, model: str) -> Network:
        """The loaded network for a model name or weight file path (loaded once, then cached)."""
        with self._lock:
            net = self._networks.get(model)
            if net is None:
                started = time.perf_counter()
                info, state = self.zoo.load(model)
                start_precision = "fp32" if self.precision == "auto" else self.precision
                net = Network(info.name, info.spec, state, self.device, start_precision)
                if self.precision == "auto":
                    net.precision = pick_precision(net, self.device)
                log.info("loaded %s (%s, x%d) on %s in %s", info.name, info.spec.arch, net.scale,
                         self.device, net.precision)
                self._networks[model] = net
                if self.on_model_loaded:
                    self.on_model_loaded(model, time.perf_counter() - started)
            return net

    @contextmanager
    def device_turn(self) -> Iterator[None]:
        """Hold the device for one image (re-entrant). Threads may decode and encode other images
        meanwhile (a worker keeps jobs in flight), but only one image runs its tiles at a time:
        tile batches are sized from the free device memory, which two images would share."""
        with self._device_lock:
            yield

    def upscale(self, pixels: np.ndarray, options: UpscaleOptions = UpscaleOptions(),
                progress: Progress | None = None) -> np.ndarray:
        """Gray (HxW), BGR (HxWx3) or BGRA (HxWx4), uint8 or uint16 -> the same layout, enlarged."""
        with self.device_turn():
            return self._upscale(pixels, options, progress)

    def _upscale(self, pixels: np.ndarray, options: UpscaleOptions, progress: Progress | None) -> np.ndarray:
        if pixels.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
        if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] not in (3, 4)):
            raise ValueError(f"pixels must be HxW, HxWx3 or HxWx4, not {pixels.shape}")
        net = self.network(options.model)
        if options.seamless:
            return self._upscale_seamless(pixels, options, progress)
        maxval = float(np.iinfo(pixels.dtype).max)
        height, width = pixels.shape[:2]
        s = net.scale
        gray = pixels.ndim == 2
        color = pixels if gray else pixels[:, :, :3]
        alpha = pixels[:, :, 3] if pixels.ndim == 3 and pixels.shape[2] == 4 else None
        out = np.empty((height * s, width * s) + pixels.shape[2:], dtype=pixels.dtype)

        tiles_total = TilePlan.for_image(height, width, options.tile, options.tile_pad).count
        passes = 2 if alpha is not None and options.alpha == "model" else 1
        done = [0]

        def report(n: int) -> None:
            done[0] += n
            if progress:
                progress(done[0], tiles_total * passes)

        def write_color(top: int, rows: np.ndarray) -> None:
            target = out[top : top + rows.shape[0]]
            if gray:
                target[...] = _quantize(cv2.cvtColor(rows, cv2.COLOR_RGB2GRAY), maxval)
            else:
                target[:, :, :3] = _quantize(rows[:, :, ::-1], maxval)

        self._run_tiled(net, color, maxval, options, write_color, report)
        if alpha is not None:
            if options.alpha == "model":

                def write_alpha(top: int, rows: np.ndarray) -> None:
                    out[top : top + rows.shape[0], :, 3] = _quantize(rows.mean(axis=2), maxval)

                self._run_tiled(net, alpha, maxval, options, write_alpha, report)
            else:
                out[:, :, 3] = cv2.resize(alpha, (width * s, height * s), interpolation=cv2.INTER_CUBIC)
        if options.preserve_color:
            out = preserve_color(pixels, out)
        if options.outscale != s:
            size = (max(1, round(width * options.outscale)), max(1, round(height * options.outscale)))
            shrink = options.outscale < s
            out = cv2.resize(out, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)
        return out

    def _upscale_seamless(self, pixels: np.ndarray, options: UpscaleOptions, progress: Progress | None) -> np.ndarray:
        """Pad with the image's own opposite edges (wrap-around), upscale, cut the centre back out:
        border tiles see the context they will sit next to when the texture is tiled."""
        pad = min(max(options.tile_pad, SEAMLESS_MIN_PAD), *pixels.shape[:2])
        wrapped = np.pad(pixels, ((pad, pad), (pad, pad)) + ((0, 0),) * (pixels.ndim - 2), mode="wrap")
        inner = replace(options, seamless=False, outscale=float(self.network(options.model).scale))
        big = self.upscale(wrapped, inner, progress)
        s = self.network(options.model).scale
        out = big[pad * s : (pad + pixels.shape[0]) * s, pad * s : (pad + pixels.shape[1]) * s]
        if options.outscale != s:
            size = (max(1, round(pixels.shape[1] * options.outscale)), max(1, round(pixels.shape[0] * options.outscale)))
            out = cv2.resize(out, size, interpolation=cv2.INTER_AREA if options.outscale < s else cv2.INTER_LANCZOS4)
        return np.ascontiguousarray(out)

    def _run_tiled(self, net: Network, source: np.ndarray, maxval: float, options: UpscaleOptions,
                   write_rows: Callable[[int, np.ndarray], None], report: Callable[[int], None]) -> None:
        """``source``: the 8/16-bit gray or BGR pixels; each window is made float RGB only when its
        batch runs, so the host never holds a float copy of the whole input next to the output."""
        height, width = source.shape[:2]
        plan = TilePlan.for_image(height, width, options.tile, options.tile_pad)
        assembler = RowAssembler(plan, net.scale, 3, write_rows)
        batch_size = options.batch_size or tile_batch_size(
            self.device, max(plan.rows.window, plan.cols.window), net.scale,
            int(net.spec.params.get("num_feat", 64)))
        tiles = list(plan.tiles())
        win_h, win_w = plan.rows.window, plan.cols.window
        pending = None

        def finish(batch, running) -> None:
            for tile, output in zip(batch, running.result()):
                assembler.add(tile, output)
            report(len(batch))

        # One batch ahead: on CUDA the device runs batch k+1 while the host assembles batch k.
        for first in range(0, len(tiles), batch_size):
            batch = tiles[first : first + batch_size]
            stack = np.stack([_to_rgb_float(source[t.y : t.y + win_h, t.x : t.x + win_w], maxval) for t in batch])
            running = net.submit(stack)
            if pending:
                finish(*pending)
            pending = (batch, running)
        if pending:
            finish(*pending)
        assert assembler.done


def _to_rgb_float(color: np.ndarray, maxval: float) -> np.ndarray:
    if color.ndim == 2:
        return np.repeat((color.astype(np.float32) / maxval)[:, :, None], 3, axis=2)
    return np.ascontiguousarray(color[:, :, ::-1], dtype=np.float32) / np.float32(maxval)


def _quantize(values: np.ndarray, maxval: float) -> np.ndarray:
    """Float 0..1 to integer levels, in place (``values`` is scratch: no full-strip temporaries)."""
    np.multiply(values, maxval, out=values)
    np.rint(values, out=values)
    return np.clip(values, 0, maxval, out=values)
