"""Tiled super-resolution inference; see :mod:`upscaler.engine.engine`."""

from upscaler.engine.engine import Engine

__all__ = ["Engine"]
