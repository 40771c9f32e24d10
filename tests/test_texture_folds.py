"""bench/texture_cv.py: the profile rule, and cross-validation folds that never put a source on both sides."""

from __future__ import annotations

import pytest

from bench.texture_cv import OVERALL, Rule, Scored, agreement, choose, choose_one, cross_validate, source_folds

SOURCES = {"a1": "pkg-a ¶1", "a2": "pkg-a ¶1", "a3": "pkg-a ¶2", "b1": "pkg-b ¶1", "b2": "pkg-b ¶1", "c1": "pkg-c ¶4"}


def test_every_image_is_held_out_once_and_no_source_sits_on_both_sides() -> None:
    folds = source_folds(SOURCES)
    assert [source for source, _ in folds] == ["pkg-a ¶1", "pkg-a ¶2", "pkg-b ¶1", "pkg-c ¶4"]
    held = [name for _, names in folds for name in names]
    assert sorted(held) == sorted(SOURCES)  # each image in exactly one fold
    for source, names in folds:
        trained_on = set(SOURCES) - names
        assert {SOURCES[n] for n in names} == {source}
        assert source not in {SOURCES[n] for n in trained_on}


def test_one_source_cannot_be_cross_validated() -> None:
    with pytest.raises(ValueError, match="at least two sources"):
        source_folds({"a1": "pkg-a ¶1", "a2": "pkg-a ¶1"})


def rows(category: str, values: dict[str, tuple[float, float]], drift: float = 0.5, flagged=()) -> list[Scored]:
    """Scores for a group of images under one setting: name -> (psnr, texture)."""
    return [Scored(name, category, name in flagged, psnr, texture, drift) for name, (psnr, texture) in values.items()]


def test_the_rule_keeps_psnr_and_does_not_pay_it_for_a_hair_of_texture() -> None:
    group = {
        "alone": rows("fabric", {"x": (20.0, 1.50)}),
        "hair": rows("fabric", {"x": (19.85, 0.60)}),    # best texture, by 0.02
        "psnr": rows("fabric", {"x": (19.95, 0.62)}),    # a hair worse, more PSNR: wins
        "far": rows("fabric", {"x": (19.0, 0.10)}),      # far better texture, but 1 dB down: not allowed
        "cast": rows("fabric", {"x": (20.5, 0.50)}, drift=1.5),  # a colour cast: not allowed
    }
    assert choose_one(group, "alone", Rule(psnr_margin=0.2, max_drift=1.0, tolerance=0.03)) == "psnr"
    assert choose_one(group, "alone", Rule(psnr_margin=0.2, max_drift=1.0, tolerance=0.01)) == "hair"
    assert choose_one(group, "alone", Rule(psnr_margin=1.0, max_drift=1.0, tolerance=0.03)) == "far"


def test_flagged_truths_count_for_psnr_but_not_for_texture() -> None:
    group = {
        "alone": rows("tiles", {"x": (30.0, 1.0), "y": (30.0, 1.0)}, flagged={"y"}),
        "blend": rows("tiles", {"x": (30.0, 0.5), "y": (29.7, 9.0)}, flagged={"y"}),
    }
    assert choose_one(group, "alone", Rule(psnr_margin=0.2)) == "blend"      # y's texture error is ignored
    assert choose_one(group, "alone", Rule(psnr_margin=0.1)) == "alone"      # ... but not its PSNR


def scores() -> dict[str, list[Scored]]:
    """fabric in sources a (a1, a2) and b (b1); wood in source c only. Source b's fabric makes
    "detail" fail the PSNR limit over all fabrics; without it, "detail" is allowed and wins."""
    return {
        "alone": rows("fabric", {"a1": (20, 1.0), "a2": (20, 1.0), "b1": (20, 1.0)}) + rows("wood", {"c1": (25, 1.0)}),
        "detail": rows("fabric", {"a1": (20, 0.3), "a2": (20, 0.3), "b1": (18, 0.3)}) + rows("wood", {"c1": (24, 0.2)}),
    }


def test_a_fold_chooses_without_the_images_it_scores() -> None:
    sources = {"a1": "a", "a2": "a", "b1": "b", "c1": "c"}
    rule, categories = Rule(psnr_margin=0.2), ["fabric", "wood"]
    final = choose(scores(), lambda name: True, "alone", rule, {"wood": "fabric"}, categories)
    assert final["fabric"] == ("alone", "fabric") and final["wood"] == ("alone", "wood")
    held = cross_validate(scores(), sources, "alone", rule, {"wood": "fabric"}, categories)
    assert held.setting_of["b1"] == "detail"   # chosen on a1, a2 only: b1's PSNR loss was not seen
    assert held.setting_of["a1"] == held.setting_of["a2"] == "alone"   # chosen on b1: detail costs 2 dB
    # Holding out c leaves no wood: wood takes its closest material's choice, made on the fabrics.
    chosen_without_c = dict((source, chosen) for source, _, chosen in held.folds)["c"]
    assert chosen_without_c["wood"] == ("alone", "fabric") and held.setting_of["c1"] == "alone"
    assert agreement(held, final)["fabric"] == (1, 2)   # folds a and b score fabrics; b chose otherwise
    assert agreement(held, final)[OVERALL][1] == 3
