"""What a stored model's description says about its network, readable without importing torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a network: its architecture name and constructor arguments."""

    arch: str
    params: dict[str, int | str]
    scale: int
    # The input height and width must be multiples of this (pixel-unshuffle); reflect-padded.
    size_multiple: int = 1

    def to_json(self) -> dict:
        return {"arch": self.arch, "params": dict(self.params), "scale": self.scale,
                "size_multiple": self.size_multiple}

    @classmethod
    def from_json(cls, data: dict) -> "ArchSpec":
        return cls(data["arch"], dict(data["params"]), int(data["scale"]), int(data.get("size_multiple", 1)))
