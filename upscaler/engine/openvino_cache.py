"""Networks converted for OpenVINO, kept in the data dir beside the precision calibration.

Converting a network (tracing the PyTorch module, OpenVINO's conversion, the NHWC layout) takes
seconds to a minute and needs torch, so it is done once per weights and runtime: each converted
model is a folder ``<data dir>/openvino/<key digest>/`` holding the IR (``model.xml`` and
``model.bin``, weights kept in fp32), a ``manifest.json`` (the key: the weights' SHA-256, the
OpenVINO version and :data:`CONVERSION_FORMAT`; the architecture; the SHA-256 of each file) and
``compiled/``, OpenVINO's own compiled-model cache for it (one blob per precision and CPU).

Nothing in it is loaded blindly. The IR's files are checked against the manifest before they are
read; the compiled blobs (which OpenVINO itself loads without checking their contents) against
``compiled/blobs.json``, written after each compilation. A folder that fails a check is corrupt:
it is removed and the model converted again (the weights are still in the zoo); a stray or
damaged blob is deleted and compiled again. A model converted for other weights or another
runtime version is stale: it has another key, so it is not found, and converting the new one
removes the stale folders of the same model name.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from upscaler.zoo.catalogue import sha256_of
from upscaler.zoo.spec import ArchSpec

if TYPE_CHECKING:
    from upscaler.zoo.archs import StateDict

log = logging.getLogger(__name__)

# Bumped whenever the conversion below changes what it writes: older folders become stale.
CONVERSION_FORMAT = 1
IR_FILES = ("model.xml", "model.bin")
MANIFEST = "manifest.json"
BLOB_RECORD = "blobs.json"
# Traced at this many input pixels a side (times the architecture's size multiple): the batch,
# height and width stay dynamic, so the size only needs to run every layer once, cheaply.
TRACE_SIZE = 16


def openvino_version() -> str:
    import openvino

    return openvino.get_version()


@dataclass(frozen=True)
class ConvertedModel:
    name: str
    spec: ArchSpec
    folder: Path

    @property
    def xml(self) -> Path:
        return self.folder / "model.xml"

    @property
    def compiled_dir(self) -> Path:
        return self.folder / "compiled"


@functools.cache
def _process_folder() -> tempfile.TemporaryDirectory:
    """Where a process without a data dir keeps its conversions: removed when it exits."""
    return tempfile.TemporaryDirectory(prefix="upscaler-openvino-")


class ConversionCache:
    """Converted models under ``folder``; ``None``: a temporary folder for this process alone."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder if folder is not None else Path(_process_folder().name)

    def key(self, weights_sha256: str) -> dict[str, object]:
        return {"weights": weights_sha256, "openvino": openvino_version(), "format": CONVERSION_FORMAT}

    def _entry(self, key: dict[str, object]) -> Path:
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        return self.folder / digest

    def find(self, weights_sha256: str) -> ConvertedModel | None:
        """The converted model for these weights and this runtime, checked; None if there is none
        (or it was corrupt, and is now removed)."""
        key = self.key(weights_sha256)
        folder = self._entry(key)
        if not folder.exists():
            return None
        problem, manifest = _check(folder, key)
        if problem:
            log.warning("the OpenVINO conversion in %s is corrupt (%s): removed, converting again", folder, problem)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return ConvertedModel(manifest["name"], ArchSpec.from_json(manifest["spec"]), folder)

    def convert(self, name: str, spec: ArchSpec, state: StateDict, weights_sha256: str) -> ConvertedModel:
        """Convert the network (torch needed), store it and return it; the stale conversions of the
        same model name (other weights, another runtime) are removed."""
        key = self.key(weights_sha256)
        folder = self._entry(key)
        self.folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.folder, prefix=".converting-"))
        try:
            _save_ir(spec, state, staging)
            manifest = {"key": key, "name": name, "spec": spec.to_json(),
                        "files": {file: sha256_of(staging / file) for file in IR_FILES},
                        "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
            shutil.rmtree(folder, ignore_errors=True)  # a corrupt one, or one another process just wrote
            os.replace(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._remove_stale(name, folder)
        log.info("%s: converted for OpenVINO %s and cached in %s", name, key["openvino"], folder)
        return ConvertedModel(name, spec, folder)

    def _remove_stale(self, name: str, keep: Path) -> None:
        for folder in self.folder.iterdir():
            if folder == keep or not (folder / MANIFEST).is_file():
                continue
            try:
                stale = json.loads((folder / MANIFEST).read_text()).get("name") == name
            except (OSError, ValueError):
                stale = False  # another model's, or damaged: found (and replaced) by its own key
            if stale:
                log.info("%s: removed its stale OpenVINO conversion %s", name, folder)
                shutil.rmtree(folder, ignore_errors=True)


def _check(folder: Path, key: dict[str, object]) -> tuple[str, dict]:
    """What is wrong with a converted model's folder ("" if nothing), and its manifest."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        return f"manifest unreadable: {exc}", {}
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return "manifest for another key", {}
    files = manifest.get("files") or {}
    for file in IR_FILES:
        path = folder / file
        if not path.is_file():
            return f"{file} missing", {}
        if sha256_of(path) != files.get(file):
            return f"{file} does not match its SHA-256", {}
    try:
        ArchSpec.from_json(manifest["spec"])
        str(manifest["name"])
    except (KeyError, TypeError, ValueError) as exc:
        return f"manifest incomplete: {exc!r}", {}
    return "", manifest


def _save_ir(spec: ArchSpec, state: StateDict, folder: Path) -> None:
    """The PyTorch network, traced and converted, with NHWC float32 input and output (the engine's
    contract: no transposes around each call), saved as OpenVINO IR with its fp32 weights."""
    import openvino as ov
    import torch

    from upscaler.zoo.archs import build

    module = build(spec, state).float().eval()
    size = TRACE_SIZE * spec.size_multiple
    example = torch.zeros(1, int(spec.params.get("num_in_ch", 3)), size, size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracing's deprecation notices: the traced graph is all we use
        traced = torch.jit.trace(module, example, check_trace=False)
        model = ov.convert_model(traced, input=[ov.PartialShape([-1, example.shape[1], -1, -1])])
    layout = ov.preprocess.PrePostProcessor(model)
    layout.input().tensor().set_layout(ov.Layout("NHWC"))
    layout.input().model().set_layout(ov.Layout("NCHW"))
    layout.output().tensor().set_layout(ov.Layout("NHWC"))
    layout.output().model().set_layout(ov.Layout("NCHW"))
    ov.save_model(layout.build(), folder / "model.xml", compress_to_fp16=False)


class BlobGuard:
    """OpenVINO's compiled-model cache for one converted model, checked: blobs are recorded with
    their SHA-256 after each compilation and checked before the next; any other is deleted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record = folder / BLOB_RECORD

    def _recorded(self) -> dict[str, str]:
        try:
            recorded = json.loads(self.record.read_text())
        except (OSError, ValueError):
            return {}
        return recorded if isinstance(recorded, dict) else {}

    def check(self) -> None:
        """Delete every blob that is not recorded or does not match its record."""
        if not self.folder.is_dir():
            return
        recorded = self._recorded()
        for blob in self.folder.iterdir():
            if blob.name == BLOB_RECORD or blob.is_dir():
                continue
            if recorded.get(blob.name) != sha256_of(blob):
                log.warning("OpenVINO's compiled model %s does not match its record: deleted, compiling again", blob)
                blob.unlink(missing_ok=True)

    def remember(self) -> None:
        """Record the blobs now present (the compilation just made or read them)."""
        if not self.folder.is_dir():
            return
        recorded = self._recorded()
        present = {blob.name for blob in self.folder.iterdir() if blob.is_file() and blob.name != BLOB_RECORD}
        fresh = {name: sha256_of(self.folder / name) for name in present - set(recorded)}
        if not fresh and set(recorded) <= present:
            return
        updated = {name: digest for name, digest in recorded.items() if name in present} | fresh
        try:
            with tempfile.NamedTemporaryFile("w", dir=self.folder, suffix=".tmp", delete=False) as handle:
                json.dump(updated, handle, indent=2)
            os.replace(handle.name, self.record)
        except OSError as exc:  # a read-only data dir: the blobs are checked against nothing, so deleted next time
            log.warning("could not record OpenVINO's compiled models in %s: %s", self.folder, exc)
