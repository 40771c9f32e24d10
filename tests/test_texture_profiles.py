"""bench/texture.py turns its per-category proposal into upscaler/profile_defaults.json."""

from __future__ import annotations

import json
from pathlib import Path

from bench.texture import ANIME, PRODUCT_CATEGORIES, X4PLUS, Setting, chosen_by, profile_defaults, write_profiles
from bench.texture_cv import Rule


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


def test_the_defaults_file_records_each_model_and_how_the_defaults_were_chosen(tmp_path: Path) -> None:
    chosen = {"tiles": Setting(0.5, True, ANIME)}
    path = tmp_path / "profile_defaults.json"
    write_profiles(path, profile_defaults(chosen, Setting(0.25, True)), {"tiles": 6}, chosen_by(Rule(), 10))
    data = json.loads(path.read_text())
    assert data["profiles"]["tiles"]["model"] == ANIME and data["profiles"]["tiles"]["detail"] == 0.5
    assert "leave-one-source-out cross-validation over 10 sources" in data["chosen_by"]
    assert "x4plus - 0.2 dB" in data["chosen_by"]
