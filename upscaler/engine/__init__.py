"""Tiled super-resolution inference; see :mod:`upscaler.engine.engine`.

``Engine`` is imported on first use: a job's request names its ``EngineOptions``
(upscaler/engine/options.py), and whoever only builds requests (the producer, the command line)
must not import torch with it.
"""

from importlib import import_module

_HOMES = {"Engine": "engine", "EngineOptions": "options"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
