"""Which runtime runs a network, and loading it there.

GPUs run torch, with everything built for CUDA (graphs, compilation, fused kernels, device
assembly). CPUs run OpenVINO where it is installed and loads (``UPSCALER_CPU_RUNTIME=auto``, the
settings' default, or ``openvino``), torch otherwise (or when asked: ``torch``): on the same
weights its CPU plugin is faster (bench/RESULTS.md, "CPU runtimes"), and a network converted
before (engine/openvino_cache.py) starts without importing torch at all.

A network OpenVINO cannot take (an architecture it fails to convert or compile, a precision its
CPU plugin does not run natively) runs on torch instead, with a warning that says why; the engine
logs, and reports, which runtime each network runs on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from upscaler.engine.calibration import CalibrationCache
from upscaler.engine.devices import Device
from upscaler.errors import UpscalerError
from upscaler.zoo.catalogue import sha256_of

if TYPE_CHECKING:
    from upscaler.engine.network_contract import LoadedNetwork
    from upscaler.zoo.registry import ModelZoo

log = logging.getLogger(__name__)

CPU_RUNTIMES = ("auto", "openvino", "torch")


def openvino_import_error() -> str | None:
    """Why OpenVINO cannot be used here, or None if it imports."""
    try:
        import openvino  # noqa: F401
    except ImportError as exc:  # not installed, or its native libraries do not load
        return f"{type(exc).__name__}: {exc}"
    return None


def choose_cpu_runtime(requested: str) -> str:
    """``auto``/``openvino``/``torch`` -> the runtime CPU networks start on: openvino where it
    imports (asked for by name but missing: torch, with a warning), torch otherwise."""
    if requested not in CPU_RUNTIMES:
        raise ValueError(f"CPU runtime {requested!r}: choose {', '.join(CPU_RUNTIMES)}")
    if requested == "torch":
        return "torch"
    problem = openvino_import_error()
    if problem is None:
        return "openvino"
    if requested == "openvino":
        log.warning("UPSCALER_CPU_RUNTIME=openvino, but OpenVINO does not import (%s): networks run on torch",
                    problem)
    return "torch"


@dataclass
class NetworkOptions:
    """How the engine wants its networks (see Engine's fields for each)."""

    device: Device
    precision: str
    cpu_runtime: str                      # what choose_cpu_runtime() chose: openvino or torch
    calibration: CalibrationCache
    conversion_dir: Path | None = None    # converted models (OpenVINO); None: converted by every process
    cpu_threads: int = 0                  # 0: the runtime's default (all physical cores)
    cuda_graphs: bool = True
    torch_compile: bool = False
    fused_kernels: bool = False


def load_network(zoo: ModelZoo, model: str, options: NetworkOptions) -> LoadedNetwork:
    """The network for a zoo name or weight file path, on the runtime its device calls for."""
    if options.device.type == "cpu" and options.cpu_runtime == "openvino":
        try:
            return _load_openvino(zoo, model, options)
        except (UpscalerError, ValueError) as exc:
            if not _openvino_cannot(exc):
                raise  # the model itself is bad (missing, damaged): torch would say the same
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001  (any failure of the optional runtime: torch is the reference)
            problem = f"{type(exc).__name__}: {exc}"
        log.warning("%s: OpenVINO cannot run it (%s); running it on torch", model, _first_line(problem))
    return _load_torch(zoo, model, options)


def _openvino_cannot(exc: Exception) -> bool:
    from upscaler.engine.openvino_network import NotNativeHere

    return isinstance(exc, NotNativeHere)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no message"
    return line if len(line) <= 300 else line[:297] + "..."


def _load_openvino(zoo: ModelZoo, model: str, options: NetworkOptions) -> LoadedNetwork:
    from upscaler.engine.openvino_cache import ConversionCache
    from upscaler.engine.openvino_network import OpenVinoNetwork

    cache = ConversionCache(options.conversion_dir)
    name, sha256 = _identified(zoo, model)
    converted = cache.find(sha256)
    if converted is None:
        info, state = zoo.load(model)  # torch: read and check the weights, once per weights and runtime
        name, sha256 = info.name, info.sha256
        converted = cache.find(sha256) or cache.convert(name, info.spec, state, sha256)
    return OpenVinoNetwork(name, converted, options.device, options.precision, options.calibration, sha256,
                           options.cpu_threads)


def _identified(zoo: ModelZoo, model: str) -> tuple[str, str]:
    """The model's name and weights' SHA-256, without reading the weights into torch: a zoo
    model's description says them; a weight file given by its path is hashed."""
    from upscaler.zoo.registry import is_weight_file

    path = Path(model)
    if is_weight_file(path):
        return path.stem, sha256_of(path)
    info = zoo.info(model)
    return info.name, info.sha256


def _load_torch(zoo: ModelZoo, model: str, options: NetworkOptions) -> LoadedNetwork:
    import torch

    from upscaler.engine.network import Network

    if options.cpu_threads:
        torch.set_num_threads(options.cpu_threads)
    info, state = zoo.load(model)
    return Network(info.name, info.spec, state, options.device, options.precision, options.cuda_graphs,
                   options.torch_compile, options.calibration, info.sha256, fused_kernels=options.fused_kernels)
