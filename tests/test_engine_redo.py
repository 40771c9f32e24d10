"""A broken reduced-precision result (NaN/inf or black) is redone in fp32 in one place
(Engine.upscale), through a fresh row chain, on the host and the device path alike: the result
is an fp32 run's, to the level, and progress never passes its total and ends at it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support import texture
from upscaler.engine import Engine
from upscaler.engine.network import Network
from upscaler.engine.options import EngineOptions

REPO = Path(__file__).resolve().parent.parent
EVERY_BATCH = set(range(1, 1000))


def break_reduced_precision(net: Network, monkeypatch, broken_batches: set[int], value: float) -> list[str]:
    """The network's raw output becomes ``value`` everywhere for these reduced-precision batches
    (counted from 1); returns the precisions of every batch run."""
    real = net._forward
    precisions: list[str] = []

    def forward(batch: np.ndarray, precision: str) -> torch.Tensor:
        precisions.append(precision)
        out = real(batch, precision)
        reduced = [p for p in precisions if p != "fp32"]
        if precision != "fp32" and len(reduced) in broken_batches:
            return torch.full_like(out, value)
        return out

    monkeypatch.setattr(net, "_forward", forward)
    return precisions


def recorded_progress() -> tuple[list[tuple[int, int]], object]:
    seen: list[tuple[int, int]] = []
    return seen, lambda done, total: seen.append((done, total))


def assert_progress_ends_at_its_total(seen: list[tuple[int, int]]) -> None:
    assert seen, "no progress reported"
    assert all(done <= total for done, total in seen), seen
    assert [d for d, _ in seen] == sorted(d for d, _ in seen), seen
    assert [t for _, t in seen] == sorted(t for _, t in seen), seen
    assert seen[-1][0] == seen[-1][1], seen


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
@pytest.mark.parametrize("alpha", ["model", "bicubic"])
@pytest.mark.parametrize("broken,value", [({2}, float("nan")), (EVERY_BATCH, float("inf")), ({3}, -0.5)],
                         ids=["nan-second-batch", "inf-every-batch", "black-third-batch"])
def test_a_broken_batch_redoes_the_image_in_fp32(zoo, tiny_srvgg, monkeypatch, on_device, alpha, broken,
                                                 value) -> None:
    options = EngineOptions(model=str(tiny_srvgg), tile=16, tile_pad=4, batch_size=2, alpha=alpha,
                             seamless=True, outscale=3.0)
    image = texture(40, 36, channels=4, seed=31)
    engine = Engine(zoo, "cpu", "bf16", assemble_on_device=on_device)
    net = engine.network(options.model)
    precisions = break_reduced_precision(net, monkeypatch, broken, value)
    seen, progress = recorded_progress()

    out = engine.upscale(image, options, progress)

    reference = Engine(zoo, "cpu", "fp32", assemble_on_device=on_device).upscale(image, options)
    assert out.shape == (120, 108, 4)
    np.testing.assert_array_equal(out, reference)
    assert net.precision == "fp32"
    assert "bf16" in precisions and precisions[-1] == "fp32"
    first_fp32 = precisions.index("fp32")
    assert set(precisions[first_fp32:]) == {"fp32"}   # no reduced-precision batch after the fall-back
    assert_progress_ends_at_its_total(seen)


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_progress_counts_the_thrown_away_tiles_into_its_total(zoo, tiny_srvgg, monkeypatch,
                                                              on_device) -> None:
    options = EngineOptions(model=str(tiny_srvgg), tile=16, tile_pad=4, batch_size=1)
    image = texture(48, 48, seed=32)   # 3 x 3 tiles, one a batch
    engine = Engine(zoo, "cpu", "bf16", assemble_on_device=on_device)
    break_reduced_precision(engine.network(options.model), monkeypatch, {5}, float("nan"))
    seen, progress = recorded_progress()
    engine.upscale(image, options, progress)
    # Host: four good batches are counted before the fifth is seen broken, and thrown away. Device:
    # the verdict is read after the last batch: all nine are.
    thrown_away = 9 if on_device else 4
    assert seen[-1] == (thrown_away + 9, thrown_away + 9)
    assert seen[thrown_away - 1] == (thrown_away, 9)
    assert seen[thrown_away] == (thrown_away + 1, thrown_away + 9)
    assert_progress_ends_at_its_total(seen)
    # The model stays in fp32: the next image runs once.
    seen.clear()
    engine.upscale(image, options, progress)
    assert seen == [(done, 9) for done in range(1, 10)]


def test_a_dark_input_may_come_out_black(zoo, tiny_srvgg, monkeypatch) -> None:
    """Black from a (nearly) black input is no sign of overflow: kept in reduced precision."""
    options = EngineOptions(model=str(tiny_srvgg), tile=16, tile_pad=4)
    engine = Engine(zoo, "cpu", "bf16")
    net = engine.network(options.model)
    precisions = break_reduced_precision(net, monkeypatch, EVERY_BATCH, 0.0)
    out = engine.upscale(np.full((32, 32, 3), 3, np.uint8), options)
    assert (out == 0).all() and set(precisions) == {"bf16"} and net.precision == "bf16"


def test_only_the_network_changes_its_precision() -> None:
    """The precision an image starts in is the network's own (engine/network.py on torch,
    engine/openvino_network.py on OpenVINO): no other module assigns a ``precision`` attribute,
    of a network or of anything else but ``self``."""
    offenders = []
    for folder in ("upscaler", "workers", "producer", "training", "bench", "cli"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                targets = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                    targets = [node.target]
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                      and node.func.id == "setattr" and len(node.args) > 1
                      and isinstance(node.args[1], ast.Constant)
                      and str(node.args[1].value).lstrip("_") == "precision"):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
                for target in targets:
                    for attribute in (n for n in ast.walk(target) if isinstance(n, ast.Attribute)):
                        if attribute.attr.lstrip("_") != "precision":
                            continue
                        owner_is_self = isinstance(attribute.value, ast.Name) and attribute.value.id == "self"
                        engine_module = path.parent == REPO / "upscaler" / "engine"
                        own = path.name in ("network.py", "openvino_network.py")
                        if not owner_is_self or (engine_module and not own):
                            offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def test_the_precision_cannot_be_set_from_outside(zoo, tiny_srvgg) -> None:
    net = Engine(zoo, "cpu", "bf16").network(str(tiny_srvgg))
    with pytest.raises(AttributeError):
        net.precision = "fp32"
    net.fall_back_to_fp32()
    assert net.precision == "fp32"
