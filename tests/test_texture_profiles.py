"""bench/texture.py turns its per-category proposal into upscaler/profile_defaults.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.texture import PRODUCT_CATEGORIES, X4PLUS, Setting, profile_defaults, write_profiles


def test_unmeasured_categories_take_their_closest_material_and_other_the_overall_setting(tmp_path: Path) -> None:
    chosen = {"fabric": Setting(1.0, True), "stone": Setting(0.75, False), "wood": Setting(0.5, True)}
    overall = Setting(0.25, True)
    defaults = profile_defaults(chosen, overall)
    assert tuple(defaults) == PRODUCT_CATEGORIES
    assert defaults["fabric"] == (Setting(1.0, True), "fabric")
    assert defaults["leather"] == (Setting(1.0, True), "fabric")
    assert defaults["concrete"] == (Setting(0.75, False), "stone")
    assert defaults["metal"] == (overall, "all")  # no material close enough: the all-images setting
    assert defaults["other"] == (overall, "all")

    path = tmp_path / "profile_defaults.json"
    write_profiles(path, defaults, {"fabric": 3, "stone": 5, "wood": 4})
    data = json.loads(path.read_text())
    assert data["source"].startswith("bench/texture.py, ") and data["source"].endswith(", 12 ground truths")
    assert list(data["profiles"]) == list(PRODUCT_CATEGORIES)
    assert data["profiles"]["fabric"] == {"model": X4PLUS, "detail": 1.0, "preserve_color": True,
                                          "measured_as": "fabric", "images": 3}
    assert data["profiles"]["leather"]["measured_as"] == "fabric" and data["profiles"]["leather"]["images"] == 0
    assert data["profiles"]["other"] == {"model": X4PLUS, "detail": 0.25, "preserve_color": True,
                                         "measured_as": "all", "images": 12}
