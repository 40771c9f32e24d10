"""Material profiles in SQL: the shipped defaults (upscaler/profiles.py) as operators have set them.

A row exists only for a category an operator changed; ``reset`` deletes it, and the category runs
the shipped defaults again (including newer ones a later release measures).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from db.models import MaterialProfile
from upscaler.materials.names import known_category
from upscaler.materials.controls import CONTROL_NAMES, MapControls
from upscaler.profiles import PROFILE_FIELDS, Profile, default_profiles
from upscaler.suggest import did_you_mean


class UnknownProfileError(ValueError):
    """Not a material category."""


def current_profiles(session: Session) -> dict[str, tuple[Profile, bool]]:
    """Every category's profile in effect, and whether an operator set it (else: the default)."""
    rows = {row.name: row for row in session.query(MaterialProfile)}
    return {name: (_from_row(rows[name]), True) if name in rows else (default, False)
            for name, default in default_profiles().items()}


def profiles_in_effect(session: Session) -> dict[str, Profile]:
    """Every category's profile as jobs get it now."""
    return {name: profile for name, (profile, _) in current_profiles(session).items()}


def current_profile(session: Session, name: str) -> tuple[Profile, bool]:
    """One category's profile in effect (any name ``known_category`` takes), and whether it was set."""
    return current_profiles(session)[_checked(name)]


def set_profile(session: Session, name: str, clear_map_controls: bool = False, **changes: Any) -> Profile:
    """Change some of a profile's settings (None = leave as it is); returns the profile now.
    Map controls are changed one by one (``depth=0.01``), after ``clear_map_controls`` put them
    all back to the presets' say."""
    name = _checked(name)
    settable = (*(f for f in PROFILE_FIELDS if f != "map_controls"), *CONTROL_NAMES)
    unknown = set(changes) - set(settable)
    if unknown:
        raise ValueError(f"profile settings {', '.join(sorted(unknown))}: choose from {', '.join(settable)}")
    given = {k: v for k, v in changes.items() if v is not None}
    controls = {k: given.pop(k) for k in CONTROL_NAMES if k in given}
    profile = current_profile(session, name)[0]
    start = MapControls() if clear_map_controls else profile.map_controls
    profile = replace(profile, **given, map_controls=replace(start, **controls))
    stored = profile.to_json()
    session.merge(MaterialProfile(name=name, **{**stored, "map_controls": stored["map_controls"] or None}))
    return profile


def reset_profile(session: Session, name: str) -> Profile:
    """Back to the shipped default; returns it."""
    name = _checked(name)
    row = session.get(MaterialProfile, name)
    if row is not None:
        session.delete(row)
    return default_profiles()[name]


def _checked(name: str) -> str:
    """The category's own name ("Tiles" -> "tile"); an error naming the choices if there is none."""
    category = known_category(name)
    if category is None:
        raise UnknownProfileError(f"profile {name!r}{did_you_mean(name, default_profiles())}: "
                                  f"choose one of {', '.join(default_profiles())}")
    return category


def _from_row(row: MaterialProfile) -> Profile:
    return Profile(row.name, **{name: getattr(row, name) for name in PROFILE_FIELDS if name != "map_controls"},
                   map_controls=MapControls.from_json(row.map_controls))
