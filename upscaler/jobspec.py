"""What a job asks for: the one parameter type, for the engine, the encoder and the jobs table.

``upscaler upscale`` builds it from its options, the producer stores it with each job (the model
in its own column, the rest as JSON) and derives output and idempotency keys from it, workers
read it back and hand it to the engine. Defaults that operators configure (``UPSCALER_TILE``,
``UPSCALER_TILE_PAD``) come from the settings, through :meth:`JobParams.from_settings`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import posixpath
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from typing import Any, Literal

from upscaler.errors import InvalidParameters
from upscaler.image_suffixes import EXTENSIONS, OUTPUT_FORMATS
from upscaler.settings import DEFAULT_TILE, DEFAULT_TILE_PAD, Settings
from upscaler.validation import check_quality, check_upscale_params
from upscaler.zoo.names import DEFAULT_MODEL, TEXTURE_MODEL

_SUFFIX_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}


# Not stored in the params JSON: the model has a column of its own, and the batch size is the
# worker's choice for its device, not the job's.
NOT_STORED = ("model", "batch_size")
# Fields added after jobs were first stored: left out of the JSON (and so of the idempotency
# key) while at their defaults, so that resubmitting what was submitted before still matches.
ADDED_LATER = {"color_space": "srgb", "maps": (), "material": None, "normal_convention": "opengl", "delight": False,
               "detail": 0.0, "detail_model": TEXTURE_MODEL, "profile": None, "fixed": (),
               "make_tileable": False, "repeat": None, "width_mm": None}
COLOR_SPACES = ("srgb", "keep")
_REPEAT = re.compile(r"(\d+)\s*[x×]\s*(\d+)")


@dataclass(frozen=True)
class JobParams:
    model: str = DEFAULT_MODEL
    tile: int = DEFAULT_TILE          # tile edge in input pixels; 0 = whole image
    tile_pad: int = DEFAULT_TILE_PAD  # context in input pixels around each tile, cross-faded
    outscale: float = 4.0             # final factor; the network's own scale is resampled to it
    alpha: Literal["bicubic", "model"] = "bicubic"  # how an alpha channel is enlarged
    format: str = "auto"     # auto = the source's own format where we can write it, else PNG
    quality: int = 95        # JPEG / WebP quality, 1-100
    seamless: bool = False        # tileable input -> tileable output: wrap-around context at the borders
    preserve_color: bool = False  # keep the input's low-frequency colour (see engine/preserve_color.py)
    batch_size: int | None = None  # tiles per forward pass; None = sized from the device
    # The output's colour space: "srgb" (tagged sRGB, what 3D tools expect) or "keep" (converted
    # back to the source's ICC profile and embedded); the network always runs in sRGB.
    color_space: Literal["srgb", "keep"] = "srgb"
    # The PBR material set made from the upscaled image (upscaler/materials): map names, or
    # ("all",); empty = none. ``material`` picks the presets (a manifest row's own category wins).
    maps: tuple[str, ...] = ()
    material: str | None = None
    normal_convention: Literal["opengl", "directx"] = "opengl"
    delight: bool = False         # flatten the photo's baked large-scale shading in the base colour
    # Texture detail: each tile batch runs through ``model`` and ``detail_model`` and their outputs
    # are mixed (1 - detail) : detail before the rows are assembled (engine/tile_runs.py). 0 = the
    # model alone, 1 = the detail model alone. Material profiles choose it (upscaler/profiles.py).
    detail: float = 0.0
    detail_model: str = TEXTURE_MODEL
    profile: str | None = None    # the material profile the job ran with (recorded, not applied here)
    # Fields the requester set explicitly: a material profile leaves them as they are.
    fixed: tuple[str, ...] = ()
    # Board-ready (upscaler/board): the upscaled image made a tile, cut to whole repeats ("auto"
    # or "NxM", across x down), its real width in millimetres carried by the material files.
    make_tileable: bool = False
    repeat: str | None = None
    width_mm: float | None = None

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in OUTPUT_FORMATS:
            raise InvalidParameters(f"format {self.format!r}: choose auto, {', '.join(OUTPUT_FORMATS)}")
        check_upscale_params(self.tile, self.tile_pad, self.outscale, self.alpha)
        check_quality(self.quality)
        if self.batch_size is not None and self.batch_size < 1:
            raise InvalidParameters("batch_size must be >= 1")
        if self.color_space not in COLOR_SPACES:
            raise InvalidParameters(f"color_space {self.color_space!r}: choose srgb or keep")
        if self.normal_convention not in ("opengl", "directx"):
            raise InvalidParameters(f"normal_convention {self.normal_convention!r}: choose opengl or directx")
        if not 0.0 <= self.detail <= 1.0:
            raise InvalidParameters(f"detail {self.detail}: choose a number from 0 to 1")
        object.__setattr__(self, "detail", float(self.detail))
        object.__setattr__(self, "maps", self._checked_maps(self.maps))
        object.__setattr__(self, "fixed", tuple(sorted(set(self.fixed))))
        object.__setattr__(self, "repeat", repeat_spelling(self.repeat))
        if self.width_mm is not None:
            if isinstance(self.width_mm, bool) or not isinstance(self.width_mm, (int, float)) or not (
                    math.isfinite(self.width_mm) and self.width_mm > 0):
                raise InvalidParameters(f"width_mm {self.width_mm!r}: give the width the photo covers, a positive number "
                                 "of millimetres")
            object.__setattr__(self, "width_mm", float(self.width_mm))

    @property
    def board_ready(self) -> bool:
        """Whether the job runs the board-ready step (a tile, whole repeats, a real size, a PBR check)."""
        return self.make_tileable or self.repeat is not None or self.width_mm is not None

    @staticmethod
    def _checked_maps(maps) -> tuple[str, ...]:
        from upscaler.materials.names import MAP_NAMES

        if isinstance(maps, str):
            maps = [m for m in maps.split(",") if m.strip()]
        names = tuple(dict.fromkeys(m.strip().lower() for m in maps))
        if "all" in names:
            return MAP_NAMES
        unknown = set(names) - set(MAP_NAMES)
        if unknown:
            raise InvalidParameters(f"maps {', '.join(sorted(unknown))}: choose all or some of {', '.join(MAP_NAMES)}")
        return tuple(m for m in MAP_NAMES if m in names)

    @classmethod
    def from_settings(cls, settings: Settings, **given: Any) -> JobParams:
        """The parameters given (None = not given), the configured defaults for the rest."""
        given = {name: value for name, value in given.items() if value is not None}
        return cls(**{"tile": settings.tile, "tile_pad": settings.tile_pad, **given})

    def to_json(self) -> dict[str, Any]:
        """What the jobs table stores (and the idempotency key hashes)."""
        return {name: list(value) if isinstance(value, list) else value
                for name, value in _stored_form(self).items()}

    @classmethod
    def from_json(cls, data: dict[str, Any], model: str = DEFAULT_MODEL) -> JobParams:
        known = {f.name for f in fields(cls)} - set(NOT_STORED)
        unknown = set(data) - known
        if unknown:
            raise InvalidParameters(f"unknown job parameters: {', '.join(sorted(unknown))}")
        return cls(model=model, **data)

    def output_format(self, source_uri: str) -> str:
        """Decided at submit time from the source's name, so the output key is known up front."""
        if self.format != "auto":
            return self.format
        return _SUFFIX_FORMATS.get(posixpath.splitext(source_uri)[1].lower(), "png")

    def extension(self, source_uri: str) -> str:
        return EXTENSIONS[self.output_format(source_uri)]


@lru_cache(maxsize=1024)
def _stored_form(params: JobParams) -> dict[str, Any]:
    """``to_json``'s answer, made once per distinct parameters (a catalogue of 10^5 images has a
    handful: one per material profile): ``asdict`` copies every field, each time."""
    stored = {name: value for name, value in asdict(params).items() if name not in NOT_STORED}
    for name, default in ADDED_LATER.items():
        if stored[name] == default:
            del stored[name]
    for name in ("maps", "fixed"):
        if name in stored:
            stored[name] = list(stored[name])
    return stored


def repeat_spelling(repeat: str | None) -> str | None:
    """``"auto"`` or ``"NxM"`` in one spelling (so that equal requests have equal keys); None stays.
    The grammar is ``upscaler.board.parse_repeat``'s (a test holds them equal): that module brings
    OpenCV along, which the producer's processes never import."""
    if repeat is None:
        return None
    value = str(repeat).strip().lower()
    if value == "auto":
        return value
    match = _REPEAT.fullmatch(value)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise InvalidParameters(f"repeat {repeat!r}: give 'auto' or NxM (repeats across x down, each at least 1, e.g. 4x3)")
    return f"{int(match.group(1))}x{int(match.group(2))}"


def format_of_uri(uri: str) -> str:
    return _SUFFIX_FORMATS.get(posixpath.splitext(uri)[1].lower(), "png")


def idempotency_key(source_uri: str, etag: str | None, params: JobParams, output_uri: str) -> str:
    """Same image (URI + ETag), same model and parameters, same destination: the same job."""
    payload = json.dumps([source_uri, etag, params.model, params.to_json(), output_uri], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
