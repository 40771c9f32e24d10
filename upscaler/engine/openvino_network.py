"""A network on OpenVINO's CPU plugin, behind the engine's contract (engine/network_contract.py).

The same weights as the torch network, converted once (engine/openvino_cache.py) into a model
whose input and output are already NHWC float32: a batch of windows goes in as the engine stacks
it and comes out as the assembler takes it, with no transposes and no torch. Where an
architecture needs input sides of a multiple of some size (pixel-unshuffle), the batch is
reflect-padded here and the output cropped, as the torch network does.

Precisions: ``fp32``, or ``bf16`` where the CPU plugin reports native bf16 (AVX-512-BF16, AMX);
OpenVINO's precision hint picks the kernels (its default on such CPUs is bf16, so fp32 is asked
for by name). ``auto`` measures them on the calibration patch as the torch network does
(engine/devices.py) and keeps the answer in the same calibration cache, keyed by the runtime's
version and the CPU (:func:`openvino_identity`). A model is compiled for a precision on its first
use, through OpenVINO's compiled-model cache (each converted model has its own, checked:
engine/openvino_cache.py), so a later process reads it back in a fraction of a second.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from upscaler.engine.calibration import CalibrationCache, cpu_name
from upscaler.engine.devices import Device, pick_precision
from upscaler.engine.network_contract import HostResult, clamp_and_check
from upscaler.engine.openvino_cache import BlobGuard, ConvertedModel, openvino_version

if TYPE_CHECKING:
    import openvino

log = logging.getLogger(__name__)

HINTS = {"fp32": "f32", "bf16": "bf16"}


class NotNativeHere(ValueError):
    """A precision this CPU's OpenVINO plugin does not run natively (torch emulates it)."""


@functools.cache
def core() -> openvino.Core:
    """One OpenVINO runtime per process (it holds the CPU plugin and its thread pool)."""
    import openvino

    return openvino.Core()


def cpu_capabilities() -> tuple[str, ...]:
    return tuple(core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


def openvino_candidates() -> list[str]:
    """Reduced precisions OpenVINO's CPU plugin runs natively here."""
    return ["bf16"] if "BF16" in cpu_capabilities() else []


def openvino_identity() -> dict[str, str]:
    """What decides OpenVINO's arithmetic's speed and rounding on this CPU (calibration key)."""
    return {"device": "cpu", "runtime": "openvino", "openvino": openvino_version(), "cpu": cpu_name(),
            "cpu_capabilities": ",".join(cpu_capabilities())}


class OpenVinoNetwork:
    runtime = "openvino"

    def __init__(self, name: str, converted: ConvertedModel, device: Device, precision: str,
                 calibration: CalibrationCache | None = None, weights_sha256: str = "", threads: int = 0) -> None:
        """``converted``: the model's conversion (engine/openvino_cache.py); ``precision``: fp32,
        bf16 or auto (measured, or read from ``calibration``); ``threads``: CPU threads for
        inference, 0 = OpenVINO's default (the physical cores)."""
        if device.type != "cpu":
            raise ValueError(f"OpenVINO runs networks on the CPU here, not on {device}")
        if precision not in ("auto", *HINTS):
            raise ValueError(f"precision {precision!r} on OpenVINO: choose auto, fp32 or bf16")
        if precision not in ("auto", "fp32") and precision not in openvino_candidates():
            raise NotNativeHere(f"{precision} is not native on this CPU ({', '.join(cpu_capabilities())})")
        self.name, self.spec, self.device = name, converted.spec, device
        self.scale = converted.spec.scale
        self._converted = converted
        self._threads = threads
        self._compiled: dict[str, openvino.CompiledModel] = {}
        self._requests: dict[str, openvino.InferRequest] = {}
        self._lock = threading.Lock()        # compilation and the precision
        self._infer_lock = threading.Lock()  # one inference at a time: each takes every core it is given
        self._precision = "fp32" if precision == "auto" else precision
        if precision == "auto":
            def measure() -> str:
                return pick_precision(self, device, openvino_candidates())

            known = calibration is not None and weights_sha256
            self._precision = (calibration.choose(self.name, device, weights_sha256, measure, openvino_identity())
                               if known else measure())
        self._request(self._precision)  # compiled now (from its cache, mostly): loading takes the time

    @property
    def precision(self) -> str:
        """The precision each image starts in: fp32 or bf16."""
        return self._precision

    def fall_back_to_fp32(self) -> None:
        """A reduced-precision output came out broken: every image from now on starts in fp32."""
        with self._lock:
            if self._precision == "fp32":
                return
            log.warning("%s: %s output was NaN/inf or black; computing in fp32 from now on", self.name,
                        self._precision)
            self._precision = "fp32"

    def compile(self, batch: int, window: int) -> float:
        """Nothing to do ahead: the model is compiled per precision on first use (from its cache)."""
        return 0.0

    @property
    def compile_status(self) -> str:
        return "off"

    def _request(self, precision: str) -> openvino.InferRequest:
        """The inference request of the model compiled for ``precision`` (compiled now if needed)."""
        with self._lock:
            request = self._requests.get(precision)
            if request is None:
                started = time.perf_counter()
                blobs = BlobGuard(self._converted.compiled_dir)
                blobs.check()
                config = {"INFERENCE_PRECISION_HINT": HINTS[precision], "PERFORMANCE_HINT": "LATENCY",
                          "CACHE_DIR": str(self._converted.compiled_dir)}
                if self._threads:
                    config["INFERENCE_NUM_THREADS"] = self._threads
                compiled = core().compile_model(str(self._converted.xml), "CPU", config)
                blobs.remember()
                self._compiled[precision] = compiled
                request = self._requests[precision] = compiled.create_infer_request()
                log.debug("%s: compiled for OpenVINO in %s in %.2f s", self.name, precision,
                          time.perf_counter() - started)
            return request

    def run(self, batch: np.ndarray, precision: str | None = None) -> np.ndarray:
        """(B, H, W, 3) float32 in 0..1 -> (B, H*s, W*s, 3) float32 in 0..1, unchecked (the precision
        probe compares outputs itself); ``precision``: default :attr:`precision`."""
        return self.submit(batch, precision or self._precision).result()[0]

    def submit(self, batch: np.ndarray, precision: str) -> HostResult:
        """The batch through the network now (on the CPU there is nothing to overlap)."""
        output = self._forward(batch, precision)
        return HostResult(*clamp_and_check(output, batch, precision != "fp32"))

    def _forward(self, batch: np.ndarray, precision: str) -> np.ndarray:
        """The network's float32 output, NHWC, not yet clamped, in memory of its own."""
        request = self._request(precision)
        _, h, w, _ = batch.shape
        m = self.spec.size_multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        x = np.ascontiguousarray(batch, dtype=np.float32)
        if pad_h or pad_w:
            x = np.pad(x, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
        with self._infer_lock:
            request.infer({0: x}, share_inputs=True)
            output = request.get_output_tensor(0).data
            s = self.scale
            return np.array(output[:, : h * s, : w * s], dtype=np.float32, copy=True, order="C")
