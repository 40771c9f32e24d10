"""Minimum-error cuts (graph cuts over a band) and the gradient-domain fusion of a cut."""

from __future__ import annotations

import numpy as np
import pytest

from upscaler.board.fusion import fuse_strip
from upscaler.board.seams import GRADIENT_WEIGHT, cut_cost, cut_labels, detail_loss, mismatch


def test_the_cut_follows_the_only_path_where_the_copies_agree() -> None:
    rng = np.random.default_rng(0)
    cost = rng.uniform(0.5, 1.0, (60, 20))
    path = (8 + 4 * np.sin(np.arange(60) / 6)).astype(int)   # a wandering column of zero mismatch
    cost[np.arange(60), path] = 0.0
    take_b = cut_labels(cost)
    assert not take_b[:, 0].any() and take_b[:, -1].all()    # the band's sides keep their own copy
    # Each row switches once, from a to b, next to the free path: the cut crosses nothing else.
    assert (np.diff(take_b.astype(int), axis=1) >= 0).all()
    first_b = take_b.argmax(axis=1)
    assert np.all(np.abs(first_b - path) <= 1)
    # Every pair it separates has a zero-mismatch pixel on one side: half what a random cut costs.
    assert cut_cost(cost, take_b) < 0.6 * cost[cost > 0].mean()


def test_a_closed_band_gets_a_closed_cut() -> None:
    rng = np.random.default_rng(1)
    length = 80
    cost = rng.uniform(0.5, 1.0, (length, 16))
    loop = (7 + 5 * np.sin(2 * np.pi * np.arange(length) / length)).astype(int)   # periodic along the band
    cost[np.arange(length), loop] = 0.0
    take_b = cut_labels(cost, cyclic=True)
    first_b = take_b.argmax(axis=1)
    assert np.all(np.abs(first_b - loop) <= 1)
    assert abs(int(first_b[0]) - int(first_b[-1])) <= 2   # the cut meets itself across the wrap


@pytest.mark.parametrize("cyclic", [False, True])
def test_a_band_solved_in_windows_costs_about_what_one_graph_does(cyclic: bool) -> None:
    rng = np.random.default_rng(2)
    smooth = np.cumsum(rng.normal(0, 1, (400, 24)), axis=0)
    cost = np.abs(np.sin(smooth / 8)) + 0.05
    whole = cut_labels(cost, cyclic=cyclic)
    windows = cut_labels(cost, cyclic=cyclic, max_nodes=24 * 40)
    assert not windows[:, 0].any() and windows[:, -1].all()
    total = lambda labels: cut_cost(cost, labels, cyclic) * _cut_pairs(labels, cyclic)  # noqa: E731
    assert total(windows) <= 1.15 * total(whole)


def _cut_pairs(labels: np.ndarray, cyclic: bool) -> int:
    along = labels != np.roll(labels, -1, axis=0) if cyclic else labels[1:] != labels[:-1]
    return int((labels[:, 1:] != labels[:, :-1]).sum() + along.sum())


def test_mismatch_sums_channels_in_full_scale_units() -> None:
    a = np.zeros((2, 2, 3), np.uint16)
    b = np.full((2, 2, 3), 65535, np.uint16)
    assert np.allclose(mismatch(a, b), 3.0)
    with pytest.raises(ValueError, match="2 pixels wide"):
        cut_labels(np.zeros((5, 1)))


def test_fusion_removes_the_step_at_a_cut_and_keeps_the_texture() -> None:
    rng = np.random.default_rng(3)
    length, width, margin = 64, 16, 8
    grain = rng.normal(0, 0.02, (length, width + 2 * margin, 1)).astype(np.float32)
    # Two copies of one texture, one 0.3 brighter: a cut between them is a step of 0.3.
    a = 0.3 + grain[:, margin:margin + width]
    b = grain[:, margin:margin + width].copy()
    take_b = np.zeros((length, width), bool)
    take_b[:, width // 2:] = True
    before, after = 0.3 + grain[:, :margin], grain[:, margin + width:]
    fused = fuse_strip(a, b, take_b, before, after, periodic=True)
    plain = np.concatenate([before, np.where(take_b[:, :, None], b, a), after], axis=1)
    cut = margin + width // 2
    step = lambda img: float(np.abs(img[:, cut] - img[:, cut - 1]).mean())  # noqa: E731
    assert step(plain) > 0.25 and step(fused) < 0.03
    # Off the cut every neighbour difference moved by little against the texture's own.
    detail = lambda img: np.diff(img, axis=0)  # noqa: E731
    assert np.abs(detail(fused) - detail(plain)).mean() < 0.1 * np.abs(detail(plain)).mean()
    # The correction fades to nothing at the strip's sides.
    assert np.abs(fused - plain)[:, [0, -1]].max() < 0.3 / 4


def test_fusion_without_a_cut_changes_nothing() -> None:
    a = np.random.default_rng(4).random((10, 6, 3)).astype(np.float32)
    take_b = np.zeros((10, 6), bool)
    take_b[:, -1] = True
    b = a.copy()
    fused = fuse_strip(a, b, take_b, a[:, :2], a[:, -2:], periodic=False)
    assert np.array_equal(fused[:, 2:-2], a)


def test_a_feature_only_one_copy_has_is_kept_not_dropped() -> None:
    # b: flat. a: flat but 1 level off near its own side (cols 0-2), 3 levels off further in, and a
    # patch of texture (a knot, the end of a crack) at cols 4-12 of rows 20-40.
    b = np.full((60, 24, 3), 120, np.uint8)
    a = np.full((60, 24, 3), 123, np.uint8)
    a[:, :3] = 121
    checker = (np.indices((21, 9)).sum(axis=0) % 2 * 80 + 80).astype(np.uint8)
    a[20:41, 4:13] = checker[:, :, None]
    cost = mismatch(a, b)
    plain = cut_labels(cost)
    kept = cut_labels(cost, keep=detail_loss(a, b, sigma=3))
    # Without the detail term the cheapest cut runs down the 1-level columns and drops the patch
    # (going round it costs 3 levels a row); with it the patch is kept, the cut going round it.
    patch = (slice(20, 41), slice(4, 13))
    assert plain[patch].mean() > 0.9 and (~kept[patch]).mean() > 0.9
    # Where both copies are alike in texture the term is about zero.
    rng = np.random.default_rng(5)
    noise = lambda: rng.integers(100, 140, (60, 24, 3)).astype(np.uint8)  # noqa: E731
    assert np.abs(detail_loss(noise(), noise(), sigma=6)).mean() < 0.05 * mismatch(noise(), noise()).mean()


def test_mismatch_counts_a_difference_of_slope() -> None:
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (16, 1))[:, :, None]
    flat = np.full_like(ramp, 0.5)
    # The same colour differences, plus the slopes' difference (1/31 per px across) where they differ.
    expected = np.abs(ramp - flat).sum() + GRADIENT_WEIGHT * 16 * 32 / 31
    assert mismatch(ramp, flat).sum() == pytest.approx(expected, rel=1e-4)
    assert mismatch(ramp, ramp + 0.1).sum() == pytest.approx(16 * 32 * 0.1, rel=1e-4)
