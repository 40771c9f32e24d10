"""Precision calibration, measured once per machine, model, device and library versions.

With ``precision=auto`` a model's first use measures which precision is fastest while staying
within 45 dB of fp32 (engine/devices.py: a few seconds of warm-ups and timed runs). That answer
depends only on the hardware, the model's weights and the libraries doing the arithmetic, so it
is stored, one small JSON file per answer, under ``<data dir>/calibration/``, keyed by all of
them: the CPU (model name and torch's vector capability) or the GPU (name and compute capability),
the device type, the weights' SHA-256, and the torch (and with it oneDNN), CUDA and cuDNN versions. A change in any
of them is a new key, measured anew; a later process with the same key loads the choice in
milliseconds. ``--precision`` (or ``UPSCALER_PRECISION``) other than auto never reads or writes it.
A network on OpenVINO keys its choices by the runtime's version and its CPU plugin's view of the
machine instead (engine/openvino_network.py: ``openvino_identity``), without importing torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import tempfile
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from upscaler.engine.devices import Device

log = logging.getLogger(__name__)
PRECISIONS = ("fp32", "fp16", "bf16")


@lru_cache(maxsize=None)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_identity(device: Device) -> dict[str, str]:
    """What decides torch's arithmetic's speed and rounding on ``device``."""
    import torch

    identity = {"device": device.type, "torch": torch.__version__, "cpu": cpu_name(),
                "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        major, minor = torch.cuda.get_device_capability(index)
        identity |= {"gpu": torch.cuda.get_device_name(index), "compute_capability": f"{major}.{minor}",
                     "cuda": str(torch.version.cuda), "cudnn": str(torch.backends.cudnn.version())}
    return identity


class CalibrationCache:
    """Stored precision choices in ``folder`` (None: nothing stored, every process measures)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder

    def key(self, device: Device, weights_sha256: str, identity: dict[str, str] | None = None) -> dict[str, str]:
        """``identity``: what decides the arithmetic (default: torch's, :func:`machine_identity`)."""
        return {**(identity or machine_identity(device)), "weights": weights_sha256}

    def _path(self, key: dict[str, str]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:32]
        return self.folder / f"{digest}.json"  # type: ignore[operator]

    def get(self, key: dict[str, str]) -> str | None:
        if self.folder is None:
            return None
        try:
            stored = json.loads(self._path(key).read_text())
        except (OSError, ValueError):
            return None
        precision = stored.get("precision")
        return precision if stored.get("key") == key and precision in PRECISIONS else None

    def put(self, key: dict[str, str], precision: str) -> None:
        if self.folder is None:
            return
        record = {"key": key, "precision": precision, "measured_at": datetime.now(timezone.utc).isoformat()}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=self.folder, suffix=".tmp", delete=False) as handle:
                json.dump(record, handle, indent=2)
            os.replace(handle.name, self._path(key))
        except OSError as exc:  # a read-only data dir: measure again next time, say why
            log.warning("could not store the precision calibration in %s: %s", self.folder, exc)

    def choose(self, name: str, device: Device, weights_sha256: str, measure: Callable[[], str],
               identity: dict[str, str] | None = None) -> str:
        """The stored choice for this model here, or ``measure()``'s, stored for next time;
        ``identity``: as for :meth:`key`."""
        key = self.key(device, weights_sha256, identity)
        cached = self.get(key)
        if cached is not None:
            log.info("%s on %s: precision %s, from the cached calibration for this machine and model "
                     "(in %s); not measured again", name, device, cached, self.folder)
            return cached
        chosen = measure()
        self.put(key, chosen)
        log.info("%s on %s: precision %s, measured now and cached in %s for later runs", name, device, chosen,
                 self.folder)
        return chosen
