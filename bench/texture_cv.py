"""Choosing the material profiles' settings, and scoring the choice on photographs it never saw.

A *setting* is what a profile fixes for the texture: the model, the detail share of RealSR DF2K
mixed into it, and preserve-colour. :func:`choose` picks one per category from scored images by
one rule (below); :func:`cross_validate` applies that rule with one source held out at a time and
scores every image only under the settings chosen without its source: those held-out numbers are
the result that ``bench/texture.py`` reports, not the numbers of the images the choice was made on.

Sources: photographs by the same people (one package, one paragraph of its ``debian/copyright``,
see ``bench/texture_set.py``) share camera, lighting and processing; a source is never on both
sides of a fold (leave one source out).

The rule, per category, on the images it may look at:

1. feasible: mean PSNR-Y at least the model alone's (x4plus, no correction) minus ``psnr_margin``
   dB, and mean colour drift at most ``max_drift``;
2. of those, the ones whose texture error (per image, spectral distance + ``detail_weight`` x
   |ln detail ratio|, averaged over the truths that are not flagged) is within ``tolerance`` of
   the lowest;
3. of those, the highest mean PSNR-Y.

The defaults (``detail_weight`` 0, ``tolerance`` 0: the lowest spectral distance that keeps PSNR
and colour) were settled by comparing a few variants' held-out results (bench/RESULTS.md says
which): that comparison used the held-out images, so the rule itself is not cross-validated.

A category without images of its own on the allowed side takes its closest measured material's
choice (``closest``), else the choice made over all allowed images together (``OVERALL``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Mapping, Sequence

OVERALL = "all"  # the pseudo-category of the one setting chosen over all images together


@dataclass(frozen=True)
class Scored:
    """One image's measures under one setting."""
    name: str
    category: str
    flagged: bool            # texture_caveats flagged the truth: left out of the texture error
    psnr: float              # dB, Y
    texture: float           # spectral distance + Rule.detail_weight x |ln detail ratio|
    color_drift: float


@dataclass(frozen=True)
class Rule:
    psnr_margin: float = 0.2   # dB below the model alone a choice may go, on the images it is chosen on
    max_drift: float = 1.0     # mean CIEDE2000
    tolerance: float = 0.0     # texture error counted as a tie (the higher PSNR wins it)
    detail_weight: float = 0.0  # of |ln detail ratio| in the texture error (the spectral distance's weight is 1)


def source_folds(sources: Mapping[str, str]) -> list[tuple[str, frozenset[str]]]:
    """Leave-one-source-out folds: (source, the names held out), one per source, in name order of
    the sources; every name in exactly one fold, no source on both sides of any fold."""
    by_source: dict[str, set[str]] = {}
    for name, source in sources.items():
        by_source.setdefault(source, set()).add(name)
    if len(by_source) < 2:
        raise ValueError(f"cross-validation by source needs at least two sources, got {sorted(by_source)}")
    return [(source, frozenset(names)) for source, names in sorted(by_source.items())]


def _mean(values: Iterable[float]) -> float:
    return statistics.fmean(values)


def choose_one(rows: Mapping[Hashable, Sequence[Scored]], baseline: Hashable, rule: Rule) -> Hashable:
    """The rule's setting for one group of images: ``rows`` maps each setting to the group's scores
    under it (the same images in each); ``baseline`` is the model alone (the PSNR reference)."""
    floor = _mean(r.psnr for r in rows[baseline]) - rule.psnr_margin
    feasible = [s for s, scored in rows.items()
                if _mean(r.psnr for r in scored) >= floor - 1e-9 and _mean(r.color_drift for r in scored) <= rule.max_drift]
    if not feasible:
        raise ValueError("no setting keeps PSNR and colour drift: not even the model alone")

    def texture(s: Hashable) -> float:
        clean = [r.texture for r in rows[s] if not r.flagged] or [r.texture for r in rows[s]]
        return _mean(clean)

    best = min(texture(s) for s in feasible)
    near = [s for s in feasible if texture(s) <= best + rule.tolerance]
    return max(near, key=lambda s: (_mean(r.psnr for r in rows[s]), -texture(s)))


def choose(scores: Mapping[Hashable, Sequence[Scored]], allowed: Callable[[str], bool], baseline: Hashable,
           rule: Rule, closest: Mapping[str, str], categories: Sequence[str]) -> dict[str, tuple[Hashable, str]]:
    """Per category: (setting, measured_as) chosen on the images ``allowed`` lets it see.
    ``measured_as`` is the category itself, its closest measured material, or ``OVERALL``."""
    def group(category: str | None) -> dict[Hashable, list[Scored]]:
        return {s: [r for r in rows if allowed(r.name) and (category is None or r.category == category)]
                for s, rows in scores.items()}

    overall = choose_one(group(None), baseline, rule)
    own = {}
    for category in categories:
        rows = group(category)
        if rows[baseline]:
            own[category] = choose_one(rows, baseline, rule)
    result = {OVERALL: (overall, OVERALL)}
    for category in categories:
        if category in own:
            result[category] = (own[category], category)
        elif closest.get(category) in own:
            result[category] = (own[closest[category]], closest[category])
        else:
            result[category] = (overall, OVERALL)
    return result


@dataclass
class HeldOut:
    """The cross-validation's outcome: per fold the choice, per image its held-out setting."""
    folds: list[tuple[str, frozenset[str], dict[str, tuple[Hashable, str]]]]
    setting_of: dict[str, Hashable]          # image name -> the setting it was scored under
    overall_setting_of: dict[str, Hashable]  # image name -> the all-images choice made without it
    category_of: dict[str, str]


def cross_validate(scores: Mapping[Hashable, Sequence[Scored]], sources: Mapping[str, str], baseline: Hashable,
                   rule: Rule, closest: Mapping[str, str], categories: Sequence[str]) -> HeldOut:
    """Leave one source out: choose on the other sources, score the held-out images under it."""
    category_of = {r.name: r.category for r in scores[baseline]}
    folds, setting_of, overall_of = [], {}, {}
    for source, held in source_folds(sources):
        chosen = choose(scores, lambda name: name not in held, baseline, rule, closest, categories)
        folds.append((source, held, chosen))
        for name in held:
            setting_of[name] = chosen[category_of[name]][0]
            overall_of[name] = chosen[OVERALL][0]
    return HeldOut(folds, setting_of, overall_of, category_of)


def held_out_rows(scores: Mapping[Hashable, Sequence[Scored]], setting_of: Mapping[str, Hashable]) -> list[Scored]:
    """Each image's scores under the setting it was assigned."""
    by_key = {(s, r.name): r for s, rows in scores.items() for r in rows}
    return [by_key[setting, name] for name, setting in sorted(setting_of.items())]


def agreement(held: HeldOut, final: Mapping[str, tuple[Hashable, str]]) -> dict[str, tuple[int, int]]:
    """Per category (and OVERALL): in how many of the folds that hold out some of its images the
    choice equals the final one, and how many such folds there are."""
    counts: dict[str, tuple[int, int]] = {}
    for category, (setting, _) in final.items():
        same = total = 0
        for _, names, chosen in held.folds:
            relevant = names if category == OVERALL else {n for n in names if held.category_of[n] == category}
            if relevant:
                total += 1
                same += chosen[category][0] == setting
        counts[category] = (same, total)
    return counts
