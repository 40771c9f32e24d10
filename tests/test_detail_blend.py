"""The detail blend (engine/tile_network.py): every tile batch runs through the model and the
detail model and their outputs are mixed ``(1 - detail) : detail`` before the tiles are
assembled. Blending tiles is linear, so the result is the weighted mean of the two models' own
results, to the rounding, tiled or whole, on the host and the device path, through every stage
after the assembler; a broken reduced-precision batch is redone with both networks in fp32."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.support import random_network_file, texture
from tests.test_engine_redo import (
    assert_progress_ends_at_its_total,
    break_reduced_precision,
    recorded_progress,
)
from upscaler.engine import Engine
from upscaler.engine.preserve_color import preserve_color
from upscaler.evaluation.image_metrics import psnr
from upscaler.engine.options import EngineOptions
from upscaler.zoo.archs import ArchSpec

TINY_SRVGG_X2 = ArchSpec("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2,
                                             "upscale": 2, "act_type": "prelu"}, 2)
TILED = {"tile": 16, "tile_pad": 4, "batch_size": 2}   # a 40x36 image: 3 x 3 tiles, overlapping
WHOLE = {"tile": 0, "tile_pad": 0}


@pytest.fixture(scope="module")
def models(tiny_srvgg: Path, tiny_rrdb: Path) -> tuple[str, str]:
    """Two different x4 networks: the model and the detail model."""
    return str(tiny_srvgg), str(tiny_rrdb)


@pytest.fixture(scope="module")
def engines(zoo) -> dict[bool, Engine]:
    """fp32 engines by where they assemble: on the host (False) or on the torch device (True)."""
    return {on_device: Engine(zoo, "cpu", "fp32", assemble_on_device=on_device) for on_device in (False, True)}


def weighted_mean(a: np.ndarray, b: np.ndarray, detail: float) -> np.ndarray:
    return (1 - detail) * a.astype(np.float64) + detail * b.astype(np.float64)


def peak(image: np.ndarray) -> float:
    return float(np.iinfo(image.dtype).max)


def blend_and_parts(engine: Engine, models: tuple[str, str], image: np.ndarray, detail: float,
                    **options) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blend, and the model's and the detail model's own results, with the same options."""
    model, detail_model = models
    blend = engine.upscale(image, EngineOptions(model=model, detail_model=detail_model, detail=detail, **options))
    alone = [engine.upscale(image, EngineOptions(model=name, **options)) for name in models]
    # The two must differ for the comparison to say anything: far more than the tolerance below.
    assert psnr(alone[0], alone[1], peak(image)) < 30
    return blend, *alone


def assert_is_the_weighted_mean(blend: np.ndarray, a: np.ndarray, b: np.ndarray, detail: float,
                                max_levels: float = 1.0) -> None:
    expected = weighted_mean(a, b, detail)
    assert blend.shape == a.shape and blend.dtype == a.dtype
    assert np.abs(blend - expected).max() <= max_levels   # each result is rounded once: within a level
    assert psnr(blend, expected, peak(blend)) >= 45


@pytest.mark.parametrize("detail", [0.3, 0.75])
@pytest.mark.parametrize("tiling", [TILED, WHOLE], ids=["tiled", "whole"])
@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_the_blend_is_the_weighted_mean_of_the_two_models(engines, models, on_device, tiling, detail) -> None:
    image = texture(40, 36, seed=41)
    blend, a, b = blend_and_parts(engines[on_device], models, image, detail, **tiling)
    assert_is_the_weighted_mean(blend, a, b, detail)


@pytest.mark.parametrize("layout", ["gray", "bgra-model", "bgr16"])
@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_the_blend_holds_for_every_plane_and_depth(engines, models, on_device, layout) -> None:
    if layout == "gray":
        image = texture(40, 36, channels=1, seed=42)
    elif layout == "bgra-model":
        image = texture(40, 36, channels=4, seed=43)
    else:
        image = texture(40, 36, seed=44, dtype=np.uint16)
    options = {**TILED, "alpha": "model"} if layout == "bgra-model" else TILED
    blend, a, b = blend_and_parts(engines[on_device], models, image, 0.5, **options)
    assert_is_the_weighted_mean(blend, a, b, 0.5)


def test_host_and_device_blend_alike(engines, models) -> None:
    image = texture(40, 36, seed=45)
    options = EngineOptions(model=models[0], detail_model=models[1], detail=0.4, **TILED)
    host, device = (engines[where].upscale(image, options) for where in (False, True))
    assert np.abs(host.astype(int) - device.astype(int)).max() <= 1 and np.mean(host != device) < 0.01


@pytest.mark.parametrize("stage", ["seamless", "outscale-down", "outscale-up"])
@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_the_blend_goes_through_the_stages_after_the_assembler(engines, models, on_device, stage) -> None:
    image = texture(24, 20, seed=46)   # seamless: wrap-padded to 64 x 60, 2 x 2 tiles on the image
    options = {"seamless": {"seamless": True}, "outscale-down": {"outscale": 3.0},
               "outscale-up": {"outscale": 5.0}}[stage]
    blend, a, b = blend_and_parts(engines[on_device], models, image, 0.6, **TILED, **options)
    # Resampling the rounded levels (Lanczos overshoots, then clips) adds a level or so; wrapping
    # and cropping add nothing.
    assert_is_the_weighted_mean(blend, a, b, 0.6, max_levels=1.0 if stage == "seamless" else 3.0)
    assert blend.shape[:2] == {"seamless": (96, 80), "outscale-down": (72, 60), "outscale-up": (120, 100)}[stage]


@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_the_color_fix_sees_the_blend(engines, models, on_device) -> None:
    """preserve_color corrects the mixed output: exactly the fix of the plain blend."""
    engine, image = engines[on_device], texture(40, 36, seed=47)
    plain = EngineOptions(model=models[0], detail_model=models[1], detail=0.5, **TILED)
    fixed = engine.upscale(image, replace(plain, preserve_color=True))
    np.testing.assert_array_equal(fixed, preserve_color(image, engine.upscale(image, plain)))
    _, a, b = blend_and_parts(engine, models, image, 0.5, **TILED)
    fixed_mean = preserve_color(image, np.rint(weighted_mean(a, b, 0.5)).astype(np.uint8))
    assert psnr(fixed, fixed_mean, 255) >= 45


def loads_recorded(zoo) -> tuple[Engine, list[str]]:
    loaded: list[str] = []
    return Engine(zoo, "cpu", "fp32", on_model_loaded=lambda model, _: loaded.append(model)), loaded


@pytest.mark.parametrize("detail_model,detail,runs", [
    (1, 1.0, 1),   # detail 1: the detail model alone, and only it is loaded
    (1, 0.0, 0),   # detail 0: the detail model is never loaded
    (0, 0.5, 0),   # a model blended with itself runs once
], ids=["detail-one", "detail-zero", "with-itself"])
def test_what_a_blend_that_needs_one_network_loads_and_gives(zoo, engines, models, detail_model: int, detail: float,
                                                           runs: int) -> None:
    image = texture(40, 36, seed=48)
    engine, loaded = loads_recorded(zoo)
    out = engine.upscale(image, EngineOptions(model=models[0], detail_model=models[detail_model], detail=detail, **TILED))
    np.testing.assert_array_equal(out, engines[False].upscale(image, EngineOptions(model=models[runs], **TILED)))
    assert loaded == [models[runs]]


def test_models_of_different_scales_cannot_be_blended(engines, models, tmp_path) -> None:
    x2 = random_network_file(tmp_path, TINY_SRVGG_X2, seed=7)
    options = EngineOptions(model=models[0], detail_model=str(x2), detail=0.5, **TILED)
    names = re.escape(Path(models[0]).stem) + r" \(x4\) and " + re.escape(x2.stem) + r" \(x2\)"
    with pytest.raises(ValueError, match=names):
        engines[False].upscale(texture(40, 36, seed=51), options)


@pytest.mark.parametrize("broken", ["model", "detail", "both"])
@pytest.mark.parametrize("on_device", [False, True], ids=["host", "device"])
def test_a_broken_batch_redoes_the_blend_in_fp32(zoo, models, monkeypatch, on_device, broken) -> None:
    options = EngineOptions(model=models[0], detail_model=models[1], detail=0.4, **TILED)
    image = texture(40, 36, seed=52)
    engine = Engine(zoo, "cpu", "bf16", assemble_on_device=on_device)
    nets = {"model": engine.network(models[0]), "detail": engine.network(models[1])}
    precisions = {role: break_reduced_precision(net, monkeypatch, {2} if broken in (role, "both") else set(),
                                                float("nan"))
                  for role, net in nets.items()}
    seen, progress = recorded_progress()

    out = engine.upscale(image, options, progress)

    reference = Engine(zoo, "cpu", "fp32", assemble_on_device=on_device).upscale(image, options)
    np.testing.assert_array_equal(out, reference)
    for role, net in nets.items():
        ran = precisions[role]
        first_fp32 = ran.index("fp32")  # the redo runs every network in fp32
        assert "bf16" in ran and set(ran[first_fp32:]) == {"fp32"}
        # Only a network whose output broke stays in fp32 for the images after this one.
        assert net.precision == ("fp32" if broken in (role, "both") else "bf16")
    assert_progress_ends_at_its_total(seen)
