"""Tile placement, blend weights and the row assembler, without any network."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tests.memory import peak_bytes
from upscaler.engine.tiling import RowAssembler, TilePlan, plan_axis


class Discard:
    def write(self, top: int, rows: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("length,tile,pad", [(1000, 200, 24), (201, 200, 10), (450, 200, 0), (57, 16, 5),
                                             (200, 200, 24), (10, 200, 24), (399, 100, 60)])
def test_windows_cover_the_axis_with_enough_context(length: int, tile: int, pad: int) -> None:
    plan = plan_axis(length, tile, pad)
    assert plan.starts[0] == 0 and plan.starts[-1] + plan.window == length
    assert all(0 <= s <= length - plan.window for s in plan.starts)
    assert list(plan.starts) == sorted(set(plan.starts))
    for a, b in zip(plan.starts, plan.starts[1:]):
        assert a + plan.window - b >= min(2 * pad, plan.window)  # overlap holds the context
    assert plan.window <= max(tile, 1) + 2 * pad or plan.window == length


@pytest.mark.parametrize("length,tile,pad,scale", [(1000, 200, 24, 4), (77, 20, 6, 2), (450, 200, 0, 4)])
def test_blend_weights_sum_to_one_everywhere(length: int, tile: int, pad: int, scale: int) -> None:
    plan = plan_axis(length, tile, pad)
    total = np.zeros(length * scale)
    for start, weight in zip(plan.starts, plan.output_weights(scale)):
        assert weight.min() >= 0
        total[start * scale : (start + plan.window) * scale] += weight
    np.testing.assert_allclose(total, 1.0, rtol=1e-6)


@pytest.mark.parametrize("length,tile,pad", [(256, 200, 64), (1000, 200, 32), (150, 48, 20), (57, 16, 5),
                                             (128, 200, 64), (401, 100, 100)])
def test_a_wrapped_plan_cuts_only_the_image_and_gives_every_seam_its_context(length: int, tile: int,
                                                                             pad: int) -> None:
    """Seamless mode: ``pad`` px of wrap-around margin on each side. The padding gets no cores of its
    own, and every pixel of the image, next to the wrap-around seam as between tiles, takes its
    weight only from windows that see at least half the pad around it (the blend's dead margin)."""
    plan = plan_axis(length, tile, pad, margin=pad)
    total = length + 2 * pad
    assert plan.length == total and plan.starts[0] == 0 and plan.starts[-1] + plan.window == total
    assert len(plan.starts) == (1 if length <= tile else -(-length // tile))  # the image's own cores only
    weights = plan.output_weights(1)
    for x in range(pad, pad + length):
        for start, weight in zip(plan.starts, weights):
            if start <= x < start + plan.window and weight[x - start] > 1e-3:
                assert min(x - start, start + plan.window - 1 - x) >= pad // 2, (x, start)


def _nearest_x2(window: np.ndarray) -> np.ndarray:
    return window.repeat(2, axis=0).repeat(2, axis=1)


@pytest.mark.parametrize("shuffle", [False, True])
def test_assembler_rebuilds_the_image_exactly(shuffle: bool) -> None:
    # A position-independent "network" (nearest x2) must give the same result tiled or whole,
    # whatever order the tiles arrive in, and rows must arrive in order, each exactly once.
    rng = np.random.default_rng(3)
    image = rng.random((123, 157, 3)).astype(np.float32)
    plan = TilePlan.for_image(123, 157, tile=40, pad=7)
    out = np.full((246, 314, 3), np.nan, np.float32)
    written = []

    class Rows:
        def write(self, top: int, rows: np.ndarray) -> None:
            assert np.isnan(out[top : top + len(rows)]).all()
            out[top : top + len(rows)] = rows
            written.append((top, len(rows)))

    assembler = RowAssembler(plan, 2, 3, Rows())
    tiles = list(plan.tiles())
    if shuffle:
        random.Random(1).shuffle(tiles)
    for t in tiles:
        assembler.add(t, _nearest_x2(image[t.y : t.y + plan.rows.window, t.x : t.x + plan.cols.window]))
    assert assembler.done
    np.testing.assert_allclose(out, _nearest_x2(image), atol=1e-5)
    tops = [top for top, _ in written]
    assert tops == sorted(tops) and sum(n for _, n in written) == 246


@pytest.mark.parametrize("tile,pad,margin", [(100, 10, 0), (32, 64, 64)])
def test_assembler_holds_about_one_window_of_rows(tile, pad, margin) -> None:
    """However many window rows overlap an output row (five, with seamless mode's 64 px of context
    around 32 px cores), the float rows held stay about one window high across the output."""
    plan = TilePlan.for_image(1000, 1000, tile=tile, pad=pad, margin=margin)
    output = np.zeros((plan.rows.window * 4, plan.cols.window * 4, 3), np.float32)
    window_of_rows = output.shape[0] * plan.cols.length * 4 * 3 * 4   # bytes of float rows

    def assemble() -> None:
        assembler = RowAssembler(plan, 4, 3, Discard())
        for t in plan.tiles():
            assembler.add(t, output)
        assert assembler.done

    assert peak_bytes(assemble) < 1.5 * window_of_rows
