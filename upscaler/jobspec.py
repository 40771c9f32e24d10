"""What a job asks for, as stored in SQL: model and parameters, and the derived identities.

Shared by the producer (which computes output keys and idempotency keys when it creates jobs)
and the workers (which turn the stored parameters back into engine options).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import asdict, dataclass, fields
from typing import Any

from upscaler.images import EXTENSIONS, OUTPUT_FORMATS
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD
from upscaler.validation import check_quality, check_upscale_params

_SUFFIX_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}


@dataclass(frozen=True)
class JobParams:
    tile: int = DEFAULT_TILE
    tile_pad: int = DEFAULT_TILE_PAD
    outscale: float = 4.0
    alpha: str = "bicubic"
    format: str = "auto"     # auto = the source's own format where we can write it, else PNG
    quality: int = 95
    seamless: bool = False        # tileable in, tileable out
    preserve_color: bool = False  # keep the input's low-frequency colour

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in OUTPUT_FORMATS:
            raise ValueError(f"format {self.format!r}: choose auto, {', '.join(OUTPUT_FORMATS)}")
        check_upscale_params(self.tile, self.tile_pad, self.outscale, self.alpha)
        check_quality(self.quality)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "JobParams":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown job parameters: {', '.join(sorted(unknown))}")
        return cls(**data)

    def upscale_options(self, model: str):
        from upscaler.engine.engine import UpscaleOptions

        return UpscaleOptions(model=model, tile=self.tile, tile_pad=self.tile_pad, outscale=self.outscale,
                              alpha=self.alpha, seamless=self.seamless,  # type: ignore[arg-type]
                              preserve_color=self.preserve_color)

    def output_format(self, source_uri: str) -> str:
        """Decided at submit time from the source's name, so the output key is known up front."""
        if self.format != "auto":
            return self.format
        return _SUFFIX_FORMATS.get(posixpath.splitext(source_uri)[1].lower(), "png")

    def extension(self, source_uri: str) -> str:
        return EXTENSIONS[self.output_format(source_uri)]


def format_of_uri(uri: str) -> str:
    return _SUFFIX_FORMATS.get(posixpath.splitext(uri)[1].lower(), "png")


def idempotency_key(source_uri: str, etag: str | None, model: str, params: JobParams, output_uri: str) -> str:
    """Same image (URI + ETag), same model and parameters, same destination: the same job."""
    payload = json.dumps([source_uri, etag, model, params.to_json(), output_uri], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
