"""What a job asks for: a :class:`JobRequest`, composed of what each owner needs.

- :class:`~upscaler.engine.options.EngineOptions`: the model, tiles, scale, detail (the engine's own);
- :class:`OutputOptions`: the output's format, quality and colour space (the encoder's);
- :class:`~upscaler.materials.options.MapOptions`: the PBR maps made beside the image (the map
  pipeline's; a job makes none unless asked);
- :class:`BoardRequest`: the board-ready step on the upscaled image (upscaler/board_step.py's: a
  tile, whole repeats, a real size);
- and what is the job's own: its material, the profile it ran with, the fields its requester fixed.

``upscaler upscale`` builds one from its options, the producer stores it with each job (the model
in its own column, the rest as flat JSON) and derives output and idempotency keys from it,
workers read it back and hand each part to its owner. Defaults operators configure
(``UPSCALER_TILE``, ``UPSCALER_TILE_PAD``) come from the settings, through :meth:`JobRequest.from_settings`.

The stored JSON and the idempotency key come from one explicit canonical form (``CANONICAL``):
every field of every part says whether and how it enters it, so adding a field is a decision,
not an accident that silently changes every job's key. The map controls (relief inverted, depth,
normal strength and bits, roughness mean and range: upscaler/materials/controls.py) are fields of
``MapOptions`` stored together as one nested ``map_controls`` object of those set.
"""

from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from functools import lru_cache
from typing import Any, Literal

from upscaler.engine.options import EngineOptions
from upscaler.errors import InvalidParameters
from upscaler.image_suffixes import EXTENSIONS, OUTPUT_FORMATS
from upscaler.materials.controls import MapControls
from upscaler.materials.names import MAP_NAMES
from upscaler.materials.options import MapOptions
from upscaler.settings import Settings
from upscaler.validation import check_quality

_SUFFIX_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".tif": "tiff", ".tiff": "tiff"}
COLOR_SPACES = ("srgb", "keep")
_REPEAT = re.compile(r"(\d+)\s*[x×]\s*(\d+)")


@dataclass(frozen=True)
class OutputOptions:
    format: str = "auto"     # auto = the source's own format where we can write it, else PNG
    quality: int = 95        # JPEG / WebP quality, 1-100
    # The output's colour space: "srgb" (tagged sRGB, what 3D tools expect) or "keep" (converted
    # back to the source's ICC profile and embedded); the network always runs in sRGB.
    color_space: Literal["srgb", "keep"] = "srgb"

    def __post_init__(self) -> None:
        if self.format != "auto" and self.format not in OUTPUT_FORMATS:
            raise InvalidParameters(f"format {self.format!r}: choose auto, {', '.join(OUTPUT_FORMATS)}")
        check_quality(self.quality)
        if self.color_space not in COLOR_SPACES:
            raise InvalidParameters(f"color_space {self.color_space!r}: choose srgb or keep")


def repeat_spelling(repeat: str | None) -> str | None:
    """``"auto"`` or ``"NxM"`` in one spelling (so that equal requests have equal keys); None stays.
    The grammar is ``upscaler.board.parse_repeat``'s (a test holds them equal)."""
    if repeat is None:
        return None
    value = str(repeat).strip().lower()
    if value == "auto":
        return value
    match = _REPEAT.fullmatch(value)
    if not match or min(int(match.group(1)), int(match.group(2))) < 1:
        raise InvalidParameters(f"repeat {repeat!r}: give 'auto' or NxM (repeats across x down, each at least 1, "
                                "e.g. 4x3)")
    return f"{int(match.group(1))}x{int(match.group(2))}"


@dataclass(frozen=True)
class BoardRequest:
    """Board-ready (upscaler/board): the upscaled image made a tile, cut to whole repeats ("auto"
    or "NxM", across x down), its real width in millimetres carried by the material files.
    Kept in the job's own spelling (``repeat`` a string): ``upscaler.board`` brings OpenCV along,
    which the producer's processes never import; board_step.py turns it into its options."""

    make_tileable: bool = False
    repeat: str | None = None
    width_mm: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "repeat", repeat_spelling(self.repeat))
        if self.width_mm is not None:
            if isinstance(self.width_mm, bool) or not isinstance(self.width_mm, (int, float)) or not (
                    math.isfinite(self.width_mm) and self.width_mm > 0):
                raise InvalidParameters(f"width_mm {self.width_mm!r}: give the width the photo covers, a positive "
                                        "number of millimetres")
            object.__setattr__(self, "width_mm", float(self.width_mm))

    @property
    def wanted(self) -> bool:
        """Whether the job runs the board-ready step at all."""
        return self.make_tileable or self.repeat is not None or self.width_mm is not None


def _no_maps() -> MapOptions:
    return MapOptions(maps=())


class Key(Enum):
    """How a field enters the stored JSON and the idempotency key."""

    ALWAYS = "always"                  # in both since the first jobs were stored
    UNLESS_DEFAULT = "unless default"  # added later: in both only when not at its default, so a
    #                                    request made before the field existed keeps its key
    MODEL_COLUMN = "model column"      # the model: its own column, its own place in the key
    MAP_CONTROL = "map control"        # added later, in the nested "map_controls" object only when not
    #                                    at its default; the object only when a control is set
    NOT_STORED = "not stored"          # the worker's choice (batch size), not the job's
    DERIVED = "derived"                # set when the job runs, from other fields
    NOT_A_JOB_FIELD = "not a job field"  # the part has it, a job cannot set it (yet): must stay at its default


# The canonical form, version 1: every field of every part of a request, by its part. A field
# missing here fails every request that reaches the key (see canonical_form), and a test.
KEY_VERSION = 1
CANONICAL: dict[str, dict[str, Key]] = {
    "engine": {"model": Key.MODEL_COLUMN, "tile": Key.ALWAYS, "tile_pad": Key.ALWAYS, "outscale": Key.ALWAYS,
               "alpha": Key.ALWAYS, "seamless": Key.ALWAYS, "preserve_color": Key.ALWAYS,
               "batch_size": Key.NOT_STORED, "detail": Key.UNLESS_DEFAULT, "detail_model": Key.UNLESS_DEFAULT},
    "output": {"format": Key.ALWAYS, "quality": Key.ALWAYS, "color_space": Key.UNLESS_DEFAULT},
    "maps": {"maps": Key.UNLESS_DEFAULT, "normal_convention": Key.UNLESS_DEFAULT, "delight": Key.UNLESS_DEFAULT,
             # the job's material picks the category, the engine's seamless the wrap-around
             "category": Key.DERIVED, "seamless": Key.DERIVED,
             # the map controls a job, its profile or its manifest row may set
             "invert_height": Key.MAP_CONTROL, "depth": Key.MAP_CONTROL, "normal_strength": Key.MAP_CONTROL,
             "roughness": Key.MAP_CONTROL, "roughness_range": Key.MAP_CONTROL, "normal_bits": Key.MAP_CONTROL,
             # set by the category's preset
             "ao_radius": Key.NOT_A_JOB_FIELD, "height_weights": Key.NOT_A_JOB_FIELD,
             "metallic": Key.NOT_A_JOB_FIELD, "reference_px": Key.NOT_A_JOB_FIELD, "orm": Key.NOT_A_JOB_FIELD,
             "opengl_normal_copy": Key.NOT_A_JOB_FIELD},
    # added with the board-ready step: a job stored before it keeps its key
    "board": {"make_tileable": Key.UNLESS_DEFAULT, "repeat": Key.UNLESS_DEFAULT, "width_mm": Key.UNLESS_DEFAULT},
    "job": {"material": Key.UNLESS_DEFAULT, "profile": Key.UNLESS_DEFAULT, "fixed": Key.UNLESS_DEFAULT},
}
PART_TYPES = {"engine": EngineOptions, "output": OutputOptions, "maps": MapOptions, "board": BoardRequest}
SETTABLE = (Key.ALWAYS, Key.UNLESS_DEFAULT, Key.MODEL_COLUMN, Key.NOT_STORED, Key.MAP_CONTROL)
# The stored name of the map controls' nested object.
MAP_CONTROLS = "map_controls"


class UndecidedField(TypeError):
    """A request type has a field that CANONICAL does not place: decide whether it enters the key."""


@dataclass(frozen=True)
class JobRequest:
    engine: EngineOptions = EngineOptions()
    output: OutputOptions = OutputOptions()
    maps: MapOptions = field(default_factory=_no_maps)
    board: BoardRequest = BoardRequest()
    # The material category (a manifest row's own wins) picks the profile and the maps' presets.
    material: str | None = None
    profile: str | None = None    # the material profile the job ran with (recorded, not applied here)
    # Fields the requester set explicitly: a material profile leaves them as they are.
    fixed: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed", tuple(sorted(set(self.fixed))))
        defaults = _no_maps()
        for name, key in CANONICAL["maps"].items():
            if key is Key.NOT_A_JOB_FIELD and getattr(self.maps, name) != getattr(defaults, name):
                raise InvalidParameters(f"{name}: not a job parameter (the material's preset sets it)")

    @property
    def model(self) -> str:
        return self.engine.model

    @property
    def makes_maps(self) -> bool:
        """Whether the job makes a material set beside its image."""
        return bool(self.maps.maps)

    @property
    def board_ready(self) -> bool:
        """Whether the job runs the board-ready step (a tile, whole repeats, a real size, a PBR check)."""
        return self.board.wanted

    @classmethod
    def from_fields(cls, **flat: Any) -> JobRequest:
        """A request from flat field names (``tile``, ``format``, ``maps``, ``material`` ...), each
        given to the part that owns it; what is not given keeps its default."""
        return cls().with_fields(**flat)

    @classmethod
    def from_settings(cls, settings: Settings, **given: Any) -> JobRequest:
        """The fields given (None = not given), the configured defaults for the rest."""
        given = {name: value for name, value in given.items() if value is not None}
        return cls.from_fields(**{"tile": settings.tile, "tile_pad": settings.tile_pad, **given})

    def with_fields(self, **flat: Any) -> JobRequest:
        """This request with flat fields changed, each in the part that owns it. ``map_controls``
        (a :class:`MapControls` or its stored object) sets every control; a control also named on
        its own wins over it."""
        if MAP_CONTROLS in flat:
            controls = MapControls.from_json(flat.pop(MAP_CONTROLS)).map_options()
            flat = {**controls, **flat}
        if "maps" in flat:
            flat["maps"] = _checked_maps(flat["maps"])
        by_part: dict[str, dict[str, Any]] = {}
        for name, value in flat.items():
            by_part.setdefault(owner_of(name), {})[name] = value
        job_fields = by_part.pop("job", {})
        parts = {part: replace(getattr(self, part), **changes) for part, changes in by_part.items()}
        return replace(self, **parts, **job_fields)

    def to_json(self) -> dict[str, Any]:
        """What the jobs table stores (and the idempotency key hashes): the canonical form."""
        return {name: dict(value) if name == MAP_CONTROLS else value for name, value in canonical_form(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any], model: str | None = None) -> JobRequest:
        unknown = set(data) - set(_STORED_NAMES)
        if unknown:
            raise InvalidParameters(f"unknown job parameters: {', '.join(sorted(unknown))}")
        return cls.from_fields(**data, **({"model": model} if model else {}))

    def output_format(self, source_uri: str) -> str:
        """Decided at submit time from the source's name, so the output key is known up front."""
        if self.output.format != "auto":
            return self.output.format
        return format_of_uri(source_uri)

    def extension(self, source_uri: str) -> str:
        return EXTENSIONS[self.output_format(source_uri)]


def owner_of(name: str) -> str:
    """The part that owns the flat field ``name``: engine, output, maps or job."""
    try:
        return _OWNERS[name]
    except KeyError:
        raise InvalidParameters(f"unknown job parameter {name!r}") from None


_OWNERS = {name: part for part, names in CANONICAL.items() for name, key in names.items() if key in SETTABLE}
_STORED_NAMES = (*(name for part, names in CANONICAL.items() for name, key in names.items()
                    if key in (Key.ALWAYS, Key.UNLESS_DEFAULT)), MAP_CONTROLS)


def field_default(name: str) -> Any:
    """The default of the flat field ``name``, read off its part's dataclass (the command line's
    help shows it)."""
    part = owner_of(name)
    if part == "maps":
        return getattr(_no_maps(), name)
    owner = JobRequest if part == "job" else PART_TYPES[part]
    return next(f.default for f in fields(owner) if f.name == name)


def _checked_maps(maps) -> tuple[str, ...]:
    if isinstance(maps, str):
        maps = [m for m in maps.split(",") if m.strip()]
    names = tuple(dict.fromkeys(m.strip().lower() for m in maps))
    if "all" in names:
        return MAP_NAMES
    unknown = set(names) - set(MAP_NAMES)
    if unknown:
        raise InvalidParameters(f"maps {', '.join(sorted(unknown))}: choose all or some of {', '.join(MAP_NAMES)}")
    return tuple(m for m in MAP_NAMES if m in names)


@lru_cache(maxsize=1024)
def canonical_form(request: JobRequest) -> tuple[tuple[str, Any], ...]:
    """The request's stored fields, version ``KEY_VERSION``: ``ALWAYS`` fields, and ``UNLESS_DEFAULT``
    ones not at their default; ``MAP_CONTROL`` ones not at their default gathered as the pairs of
    one ``map_controls`` entry (none set: no entry); tuples as lists (JSON). Made once per distinct request (a catalogue
    of 10^5 images has a handful: one per material profile). Raises :class:`UndecidedField` for a
    field ``CANONICAL`` does not place."""
    defaults = JobRequest()
    stored = []
    for part, names in CANONICAL.items():
        owner, default_owner = (request, defaults) if part == "job" else (getattr(request, part), getattr(defaults, part))
        declared = {f.name for f in fields(owner)} - (set(PART_TYPES) if part == "job" else set())
        undecided = declared - set(names)
        if undecided:
            raise UndecidedField(f"{type(owner).__name__}.{', '.join(sorted(undecided))}: say in "
                                 "upscaler.jobspec.CANONICAL whether it enters the stored job and its key")
        controls = []
        for name, key in names.items():
            value = getattr(owner, name)
            if key is Key.ALWAYS or (key is Key.UNLESS_DEFAULT and value != getattr(default_owner, name)):
                stored.append((name, list(value) if isinstance(value, tuple) else value))
            elif key is Key.MAP_CONTROL and value != getattr(default_owner, name):
                controls.append((name, value))
        if controls:
            stored.append((MAP_CONTROLS, tuple(controls)))
    return tuple(stored)


def format_of_uri(uri: str) -> str:
    return _SUFFIX_FORMATS.get(posixpath.splitext(uri)[1].lower(), "png")


def idempotency_key(source_uri: str, etag: str | None, request: JobRequest, output_uri: str) -> str:
    """Same image (URI + ETag), same model and parameters, same destination: the same job.
    Version 1 of the canonical form hashes no version tag (the first stored keys had none); a
    version 2 must add one, so that its keys can never collide with version 1's."""
    payload = json.dumps([source_uri, etag, request.model, request.to_json(), output_uri], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
