"""Per-process singletons of a worker: the engine and the storage client.

Created on first use inside the process that runs the tasks, i.e. after Celery's prefork, so
the parent never touches CUDA and every child loads its models once and reuses them.
"""

from __future__ import annotations

import os
import socket
import threading
from functools import cache

from upscaler.settings import get_settings
from upscaler.storage import Storage


class NoopEngine:
    """For benchmarks and load tests only (UPSCALER_ENGINE_NOOP=1): nearest-neighbour x4,
    so the queue, SQL and storage paths can be measured and stressed without a network."""

    def __init__(self, delay_ms: int = 0) -> None:
        self.delay = delay_ms / 1000
        # One "device" per process, as the real engine has: the delay stands in for GPU time.
        self._device = threading.RLock()

    def device_turn(self) -> threading.RLock:
        return self._device

    def upscale(self, pixels, options, progress=None, timings=None):
        import time

        import cv2

        from upscaler.engine.engine import waiting_for

        with waiting_for(self._device, timings):  # the delay stands in for the device's work
            time.sleep(self.delay)
        if progress:
            progress(1, 1)

        height, width = pixels.shape[:2]
        size = (max(1, round(width * options.outscale)), max(1, round(height * options.outscale)))
        return cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST)


@cache
def _engine_for(pid: int):
    from upscaler.engine import Engine
    from upscaler.imageio.png import set_png_threads
    from upscaler.zoo.registry import ModelZoo

    settings = get_settings()
    if settings.engine_noop:
        set_png_threads(png_threads(settings.png_threads, False, len(os.sched_getaffinity(0)), 0))
        return NoopEngine(settings.engine_noop_delay_ms)
    from upscaler.monitoring import MODEL_LOAD_SECONDS

    engine = Engine.from_settings(ModelZoo(settings.models_dir, settings.model_store_uri), settings,
                                  on_model_loaded=lambda model, seconds: MODEL_LOAD_SECONDS.labels(model).set(seconds))
    set_png_threads(png_threads(settings.png_threads, engine.device.type == "cpu", len(os.sched_getaffinity(0)),
                                settings.torch_threads))
    return engine


def png_threads(configured: int, network_on_cpu: bool, cores: int, torch_threads: int) -> int:
    """Threads per PNG encode in a worker (``torch_threads``: UPSCALER_TORCH_THREADS, the network's
    CPU threads on torch or OpenVINO, which the engine sets; 0 = the runtime's default, the whole
    machine). Where the network runs on the CPU, an encode running beside
    inference takes its cores from inference, the worker's bottleneck: on 2 cores with torch on
    one (bench/pipeline.py), 2 encode threads gave 0.87-0.92 of the engine alone's images/s,
    1 thread 0.96-0.97. So there the encoder gets the cores torch was told to leave free, or one
    thread where torch has them all (its default counts physical cores, so the logical ones
    beyond are SMT siblings of its own, not free cores). Elsewhere (a GPU worker) the encoder
    may use up to 8 cores, so that a big image's tail is short."""
    if configured:
        return configured
    if network_on_cpu:
        return max(1, min(8, cores - torch_threads)) if torch_threads else 1
    return max(1, min(8, cores))


def engine():
    return _engine_for(os.getpid())


@cache
def _storage_for(pid: int) -> Storage:
    return Storage()


def storage() -> Storage:
    return _storage_for(os.getpid())


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
