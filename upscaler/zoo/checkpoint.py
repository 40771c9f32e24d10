"""The one boundary every weight file passes: safe loading and unwrapping.

``.pth`` files are read with ``torch.load(weights_only=True)`` so that a file from a supplier,
a colleague or S3 can never run code; ``.safetensors`` cannot. Training frameworks wrap the
weights (``params_ema`` preferred over ``params``, as Real-ESRGAN does; ``state_dict``;
``model``) and DataParallel prefixes keys with ``module.``: all of that is undone here.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from safetensors.torch import load_file as load_safetensors

from upscaler.errors import ModelFormatError
from upscaler.zoo.catalogue import sha256_of  # noqa: F401  (re-exported: defined without torch)

StateDict = dict[str, torch.Tensor]
_WRAPPERS = ("params_ema", "params", "state_dict", "model", "generator")


def unwrap(obj: object, source: str) -> StateDict:
    while isinstance(obj, dict):
        wrapper = next((key for key in _WRAPPERS if isinstance(obj.get(key), dict)), None)
        if wrapper is None:
            break
        obj = obj[wrapper]
    if not isinstance(obj, dict) or not obj:
        raise ModelFormatError(f"{source}: no state dict found (expected a dict of tensors)")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ModelFormatError(f"{source}: entry {key!r} is a {type(value).__name__}, not a tensor")
        state[key.removeprefix("module.")] = value
    return state


def load_state_dict(path: Path) -> StateDict:
    """The plain state dict stored in ``path`` (.pth/.pt/.ckpt or .safetensors)."""
    if not path.is_file():
        raise ModelFormatError(f"{path}: no such weight file")
    try:
        if path.suffix == ".safetensors":
            raw: object = load_safetensors(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelFormatError(f"{path}: not a plain weights file ({_unpickling_reason(exc)}); only tensors are read "
                               "from a weight file, never other Python objects") from exc
    except (RuntimeError, OSError, ValueError, EOFError, KeyError, IndexError, TypeError, AttributeError) as exc:
        # A file that is no pickle or zip at all (text, an image) fails inside the unpickler any way.
        raise ModelFormatError(f"{path}: cannot be read as weights (not a PyTorch or safetensors weight file: "
                               f"{type(exc).__name__}: {exc})") from exc
    return unwrap(raw, str(path))


def _unpickling_reason(exc: pickle.UnpicklingError) -> str:
    """What the safe unpickler refused, without torch's advice to load with ``weights_only=False``
    (which runs whatever code the file holds: never advised here)."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.*?)(?: Please use|\n|$)", text)
    if found and found.group(1).strip():
        return found.group(1).strip()
    first = text.splitlines()[0] if text else ""
    return first if first and "weights_only" not in first else "it holds objects other than tensors"
