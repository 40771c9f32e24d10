"""Checkpoints: everything needed to continue a run exactly, written atomically, kept K deep,
mirrored to S3, and found again (locally or in S3) after any interruption.

Only plain types and tensors are stored (RNG states converted), so checkpoints load with
``torch.load(weights_only=True)`` like any other weight file: nothing from S3 is unpickled.
"""

from __future__ import annotations

import io
import logging
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

from upscaler.errors import UpscalerError
from upscaler.storage import Storage, safe_join

log = logging.getLogger(__name__)
NAME = re.compile(r"^ckpt_(\d{9})\.pth$")


def name_for(iteration: int) -> str:
    return f"ckpt_{iteration:09d}.pth"


def rng_state() -> dict:
    version, state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    out = {
        "python": {"version": version, "state": list(state), "gauss": gauss},
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(state: dict) -> None:
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # A run may resume on a machine with fewer GPUs than the one that saved it: restore the
        # generators both have (training uses the first).
        for index, generator_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(generator_state, index)


class CheckpointStore:
    def __init__(self, folder: Path, keep: int, remote_prefix: str | None = None, storage: Storage | None = None) -> None:
        self.folder, self.keep, self.remote = folder, keep, remote_prefix
        self.storage = storage or Storage()
        folder.mkdir(parents=True, exist_ok=True)

    def _local(self) -> dict[int, Path]:
        return {int(m.group(1)): p for p in self.folder.iterdir() if (m := NAME.match(p.name))}

    def _remote(self) -> dict[int, str]:
        if not self.remote:
            return {}
        prefix = self.remote.rstrip("/") + "/"
        found = {}
        try:
            for info in self.storage.list(prefix):
                if m := NAME.match(info.relative_key):
                    found[int(m.group(1))] = info.uri
        except UpscalerError as exc:
            log.warning("cannot list remote checkpoints at %s: %s", prefix, exc)
        return found

    def save(self, iteration: int, state: dict) -> Path:
        path = self.folder / name_for(iteration)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(state, tmp)
        os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint intact
        if self.remote:
            self.storage.put(safe_join(self.remote, path.name), path.read_bytes())
        self._prune()
        return path

    def _prune(self) -> None:
        local = self._local()
        for iteration in sorted(local)[: -self.keep]:
            local[iteration].unlink(missing_ok=True)
        if self.remote:
            remote = self._remote()
            for iteration in sorted(remote)[: -self.keep]:
                self.storage.delete(remote[iteration])

    def newest(self) -> tuple[int, dict] | None:
        """The newest readable checkpoint, local or remote (downloaded if only remote).

        Loaded onto the CPU whatever device saved it (RNG states must be CPU tensors, and the
        saving GPU may not exist here); ``Trainer.load_state_dict`` moves the rest to its device.
        """
        local, remote = self._local(), self._remote()
        for iteration in sorted(set(local) | set(remote), reverse=True):
            try:
                if iteration in local:
                    data = torch.load(local[iteration], map_location="cpu", weights_only=True)
                else:
                    raw = self.storage.get(remote[iteration], 1 << 40)
                    data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
                    (self.folder / name_for(iteration)).write_bytes(raw)
                return iteration, data
            except Exception as exc:  # a damaged checkpoint: fall back to the one before
                log.warning("checkpoint %d unreadable (%s); trying an older one", iteration, exc)
        return None

    def latest_uri(self) -> str | None:
        local = self._local()
        if not local:
            return None
        newest = max(local)
        return safe_join(self.remote, name_for(newest)) if self.remote else str(local[newest])
