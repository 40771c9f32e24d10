"""Material profiles: how each category of material is upscaled by default.

A profile fixes the model, the texture ``detail`` (the share of the texture model mixed into each
tile batch, engine/tile_runs.py), preserve-colour, seamless, the output format and the map
controls (upscaler/materials/controls.py: relief inverted, depth, normal strength and bits,
roughness mean and range; by default the category's map presets decide). The defaults
ship with the code in ``profile_defaults.json``, written by ``bench/texture.py`` from the
ground-truth measurement (bench/RESULTS.md, "Texture fidelity"), not chosen by eye; operators
change them with ``upscaler profiles set``, stored in SQL (db/profiles.py) so that every producer
sees the same.

A profile applies when a job names a material (a manifest's ``material`` column, ``--material``,
a watch's setting). What the requester set explicitly (``JobRequest.fixed``) wins over the
profile (for the map controls, control by control); an unknown category gets the ``other``
profile and a warning, never a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Any

from upscaler.jobspec import JobRequest
from upscaler.materials.controls import CONTROL_NAMES, MapControls
from upscaler.materials.names import AUTO, CATEGORIES, category_from_path, known_category
from upscaler.suggest import did_you_mean

DEFAULTS_FILE = "profile_defaults.json"
FALLBACK = "other"


@dataclass(frozen=True)
class Profile:
    name: str
    model: str
    detail: float = 0.0
    preserve_color: bool = False
    seamless: bool = False
    format: str = "auto"
    map_controls: MapControls = MapControls()

    def __post_init__(self) -> None:
        # Stored as the controls that are set (a JSON object), or none.
        object.__setattr__(self, "map_controls", MapControls.from_json(self.map_controls))
        # The same checks a job's parameters get: a profile that could not run is refused when set.
        JobRequest.from_fields(model=self.model, detail=self.detail, format=self.format)

    def settings(self) -> dict[str, Any]:
        """The job parameters this profile sets (every field but its name)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"}

    def to_json(self) -> dict[str, Any]:
        """The settings as stored and printed: the map controls as the object of those set."""
        return {**self.settings(), "map_controls": self.map_controls.to_json()}


# The job parameters a profile sets: the ones a requester can fix against it.
PROFILE_FIELDS = tuple(f.name for f in fields(Profile) if f.name != "name")


@cache
def _defaults_file() -> dict[str, Any]:
    return json.loads(resources.files("upscaler").joinpath(DEFAULTS_FILE).read_text())


@cache
def default_profiles() -> dict[str, Profile]:
    """The shipped defaults, one per catalogue category, in the catalogue's order."""
    data = _defaults_file()
    given = {known_category(name): entry for name, entry in data["profiles"].items()}
    missing = [c for c in CATEGORIES if c not in given]
    if missing:
        raise RuntimeError(f"{DEFAULTS_FILE} has no profile for {', '.join(missing)}")
    known = {f.name for f in fields(Profile)}
    return {c: Profile(c, **{k: v for k, v in given[c].items() if k in known}) for c in CATEGORIES}


def measurement_source() -> str:
    """Where the shipped defaults come from (the benchmark run that wrote them)."""
    return _defaults_file().get("source", "")


def category_for(material: str) -> tuple[str, str | None]:
    """The profile name for a job's material, and a warning when the material is not a category."""
    category = known_category(material)
    if category is not None:
        return category, None
    return FALLBACK, (f"unknown material category {material!r}{did_you_mean(material, CATEGORIES)}: ran the "
                      f"{FALLBACK!r} profile (known: {', '.join(CATEGORIES)})")


def what_ran(params: JobRequest) -> str:
    """The networks a job's parameters run, for a warning or a report: the model, and the detail
    model blended in when ``detail`` is above 0 (each tile then runs through both)."""
    engine = params.engine
    if engine.detail > 0:
        return (f"model {engine.model} blended with {engine.detail_model} at detail {engine.detail:g} "
                "(two networks per tile)")
    return f"model {engine.model} alone"


def apply_profile(params: JobRequest, profile: Profile) -> JobRequest:
    """``params`` with the profile's settings, except those the requester fixed; records the profile."""
    changes = {name: value for name, value in profile.settings().items() if name not in params.fixed}
    # Map controls one by one: those the requester set stay, the profile sets the others.
    changes["map_controls"] = profile.map_controls.overridden_by(
        params.maps.controls, tuple(name for name in params.fixed if name in CONTROL_NAMES))
    # A job's parameters are final: what was fixed has had its effect and is not stored with it.
    return params.with_fields(**changes, profile=profile.name, fixed=())


def params_for_material(params: JobRequest, material: str | None,
                        profiles: dict[str, Profile], name: str | None = None) -> tuple[JobRequest, str | None]:
    """A job's parameters for its material (its own, else ``params.material``): the category's
    profile applied, and a warning when the material is not a category. No material: as given.
    Either way without ``fixed``, which only a request (a watch's stored parameters) keeps.

    ``params.material`` of ``auto`` is resolved first: to the category the image's ``name`` (its
    path or key) gives, or None, when the image has no material of its own; else to None."""
    if params.material == AUTO:
        params = params.with_fields(material=category_from_path(name) if name and not material else None)
    material = material or params.material
    if not material:
        return params.with_fields(fixed=()), None
    name, warning = category_for(material)
    return apply_profile(params, profiles[name]), warning
