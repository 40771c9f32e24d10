"""The map controls a person may set for a job or a material profile: relief read upside down,
its depth, the normals' strength and bit depth, the roughness's mean and range.

One small value kept together, so that a job, a profile and a manifest row carry it as one thing:
a job's request holds the controls in its ``MapOptions`` (``request.maps.controls``; stored as
one nested ``map_controls`` object, only when a control is set: upscaler/jobspec.py), a
profile's ``map_controls``, and :meth:`MapControls.map_options` for ``MapOptions``' fields. ``None`` (and the defaults) mean "the category's preset decides". Light: no
NumPy, the producer builds these.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from upscaler.errors import InvalidParameters

# The deepest relief a control may ask for, as a fraction of the image's longer side: the
# presets use 0.001-0.01; half the image is far past any material and still a number the
# normals and AO handle.
MAX_DEPTH = 0.5
MAX_NORMAL_STRENGTH = 100.0


class BadControl(InvalidParameters):
    """A control's value that makes no map; ``control`` names it (the message does too). A job's
    invalid parameters: a stored job that has one fails at once, never retried."""

    def __init__(self, control: str, message: str) -> None:
        super().__init__(message)
        self.control = control


@dataclass(frozen=True)
class MapControls:
    """invert_height: the recesses are lighter than the surface (light mortar or grout): height,
        AO and roughness read the luminance upside down.
    depth: relief depth of the height's full range, fraction of the image's longer side
        (0.005 = 5 mm on a 1 m swatch); None = the category's preset.
    normal_strength: multiplies the depth for the normals only (1 = as deep as the height says).
    roughness: mean roughness 0 (mirror) .. 1 (matte); None = the preset's.
    roughness_range: how far roughness may move around its mean (+-, 0..1); None = the preset's.
    normal_bits: 8 or 16 bits per channel for the normal map.
    """

    invert_height: bool = False
    depth: float | None = None
    normal_strength: float = 1.0
    roughness: float | None = None
    roughness_range: float | None = None
    normal_bits: int = 8

    def __post_init__(self) -> None:
        if not isinstance(self.invert_height, bool):
            raise BadControl("invert_height", f"invert_height {self.invert_height!r}: give true or false")
        if self.depth is not None:
            object.__setattr__(self, "depth", _number("depth", self.depth, 0.0, MAX_DEPTH, low_open=True,
                                                      meaning="the relief depth as a fraction of the image's "
                                                              "longer side, e.g. 0.005"))
        object.__setattr__(self, "normal_strength", _number(
            "normal_strength", self.normal_strength, 0.0, MAX_NORMAL_STRENGTH, low_open=False,
            meaning="a factor on the normals' depth, 1 = as the height says"))
        for name, meaning in (("roughness", "the mean roughness, 0 = mirror .. 1 = matte"),
                              ("roughness_range", "how far roughness moves around its mean, 0..1")):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _number(name, getattr(self, name), 0.0, 1.0, low_open=False,
                                                       meaning=meaning))
        if isinstance(self.normal_bits, bool) or self.normal_bits not in (8, 16):
            raise BadControl("normal_bits", f"normal_bits {self.normal_bits!r}: choose 8 or 16")
        object.__setattr__(self, "normal_bits", int(self.normal_bits))

    @property
    def is_default(self) -> bool:
        return self == DEFAULT

    def to_json(self) -> dict[str, Any]:
        """The controls that are set (not at their default): what a job or profile stores."""
        default = asdict(DEFAULT)
        return {name: value for name, value in asdict(self).items() if value != default[name]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | MapControls | None) -> MapControls:
        """From what ``to_json`` stored (missing controls at their defaults); an unknown name is an error."""
        if data is None:
            return DEFAULT
        if isinstance(data, MapControls):
            return data
        if not isinstance(data, dict):
            raise InvalidParameters(f"map_controls {data!r}: give an object of {', '.join(CONTROL_NAMES)}")
        unknown = set(data) - set(CONTROL_NAMES)
        if unknown:
            raise InvalidParameters(f"map controls {', '.join(sorted(unknown))}: choose from {', '.join(CONTROL_NAMES)}")
        return cls(**data)

    def overridden_by(self, other: MapControls, names: tuple[str, ...] | None = None) -> MapControls:
        """These controls with ``other``'s ``names`` (default: those ``other`` sets) taking over."""
        names = tuple(other.to_json()) if names is None else names
        return replace(self, **{name: getattr(other, name) for name in names if name in CONTROL_NAMES})

    def map_options(self) -> dict[str, Any]:
        """The pipeline's ``MapOptions`` fields these controls set."""
        return asdict(self)

    def describe(self) -> str:
        """One short line of the controls that are set, for tables ("-" when none)."""
        shown = [name if value is True else f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                 for name, value in self.to_json().items()]
        return " ".join(shown) or "-"


def _number(name: str, value: Any, low: float, high: float, low_open: bool, meaning: str) -> float:
    """``value`` as a float within [low, high] (above ``low`` when ``low_open``), or an error naming ``name``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise BadControl(name, f"{name} {value!r}: give {meaning} ({bound} to {high:g})")
    return float(value)


DEFAULT = MapControls()
CONTROL_NAMES = tuple(f.name for f in fields(MapControls))
