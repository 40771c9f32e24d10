"""OpenVINO on the CPU (engine/openvino_network.py, chosen in engine/backends.py): the torch path's
pixels (100 dB in fp32, 45 dB in bf16) for every layout the engine takes, the same fp32 redo
after a broken reduced-precision batch, and conversions that are reused, rebuilt when the weights
or the runtime change, and replaced when damaged, never loaded as they are."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.support import TINY_RRDB, TINY_SRVGG, random_network_file, texture
from tests.test_engine_redo import EVERY_BATCH, assert_progress_ends_at_its_total, recorded_progress
from upscaler.engine import Engine, backends, openvino_cache
from upscaler.engine import engine as engine_module
from upscaler.engine.openvino_network import OpenVinoNetwork, openvino_candidates
from upscaler.evaluation.image_metrics import psnr
from upscaler.engine.options import EngineOptions
from upscaler.zoo.archs import ArchSpec, build
from upscaler.zoo.registry import ModelZoo

NATIVE_BF16 = "bf16" in openvino_candidates()
FLOOR_DB = {"fp32": 100.0, "bf16": 45.0}
TINY_RRDB_X2 = ArchSpec("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 2, "num_feat": 8,
                                    "num_block": 1, "num_grow_ch": 4}, 2, size_multiple=2)


def lively_network_file(folder: Path, spec: ArchSpec, seed: int = 0) -> Path:
    """A small random RRDBNet whose output spreads around mid-grey, not a flat black (a tiny
    RRDBNet's own output is near zero: every difference would vanish in the clamp)."""
    torch.manual_seed(seed)
    net = build(spec)
    net.conv_last.weight.data.mul_(25)  # measured: an output spread of about 0.1 around mid-grey
    net.conv_last.bias.data.fill_(0.5)
    path = folder / f"lively-{spec.arch.lower()}-x{spec.scale}-{seed}.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def nets(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("ov-nets")
    return {"srvgg": str(random_network_file(folder, TINY_SRVGG)), "rrdb": str(lively_network_file(folder, TINY_RRDB)),
            "rrdb-x2": str(lively_network_file(folder, TINY_RRDB_X2))}


@pytest.fixture(scope="module")
def engines(zoo, tmp_path_factory) -> dict[tuple[str, str], Engine]:
    conversions = tmp_path_factory.mktemp("ov-conversions")
    return {(runtime, precision): Engine(zoo, "cpu", precision, cpu_runtime=runtime, conversion_dir=conversions)
            for runtime in ("torch", "openvino") for precision in ("fp32", "bf16")}


TILED = {"tile": 12, "tile_pad": 3, "batch_size": 2}  # a 28x24 image: 3 x 2 overlapping tiles
CASES = {
    "gray": (lambda: texture(28, 24, channels=1, seed=3), TILED),
    "rgba": (lambda: texture(28, 24, channels=4, seed=4), {**TILED, "alpha": "model"}),
    "16-bit": (lambda: texture(28, 24, seed=5, dtype=np.uint16), TILED),
    "seamless": (lambda: texture(28, 24, seed=6), {**TILED, "seamless": True}),
    "tiled": (lambda: texture(28, 24, seed=7), TILED),
    "whole": (lambda: texture(28, 24, seed=8), {"tile": 0, "tile_pad": 0}),
    "detail": (lambda: texture(28, 24, seed=9), {**TILED, "detail": 0.4}),
}


def upscaled_with_float_rows(engine: Engine, image: np.ndarray, params: EngineOptions,
                             monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    """The engine's result, and every float RGB row its assembler handed to the levels stage
    (before the rounding to 8/16-bit levels, where a float difference of 1e-7 can flip a level)."""
    rows: list[np.ndarray] = []

    class Recording(engine_module.HostLevels):
        def write(self, top: int, block: np.ndarray) -> None:
            rows.append(block.copy())
            super().write(top, block)

    with monkeypatch.context() as patch:
        patch.setattr(engine_module, "HostLevels", Recording)
        out = engine.upscale(image, params)
    return out, np.concatenate([r.reshape(-1, 3) for r in rows])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("case", CASES)
def test_openvino_gives_the_torch_paths_pixels(engines, nets, monkeypatch, case: str, precision: str) -> None:
    make, options = CASES[case]
    image = make()
    params = EngineOptions(model=nets["srvgg"], detail_model=nets["rrdb"], **options)
    ours, our_rows = upscaled_with_float_rows(engines["openvino", precision], image, params, monkeypatch)
    theirs, their_rows = upscaled_with_float_rows(engines["torch", precision], image, params, monkeypatch)
    used = engines["openvino", precision].tile_network(params).networks
    # bf16 where OpenVINO's CPU plugin lacks it natively: torch runs it (and says so).
    expected = "openvino" if precision == "fp32" or NATIVE_BF16 else "torch"
    assert {net.runtime for net in used} == {expected}
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype == image.dtype
    quality = psnr(our_rows, their_rows)
    assert quality >= FLOOR_DB[precision], f"{case} {precision}: {quality:.1f} dB"
    peak = float(np.iinfo(image.dtype).max)
    if precision == "fp32":  # the same levels, but for a rounding flipped by float noise
        assert np.abs(ours.astype(np.int64) - theirs.astype(np.int64)).max() <= 1
    else:
        assert psnr(ours / peak, theirs / peak) >= FLOOR_DB[precision]
    # Not a vacuous match: the outputs have texture (a black or flat output would match anything).
    assert ours.astype(np.float64).std() > 0.03 * peak


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model", ["srvgg", "rrdb", "rrdb-x2"])
def test_the_network_contract_holds(engines, nets, model: str, precision: str) -> None:
    """Every zoo architecture (pixel-unshuffled RRDBNet x2 too, odd sizes reflect-padded) gives
    torch's float output, NHWC in 0..1."""
    ours = engines["openvino", precision].network(nets[model])
    theirs = engines["torch", precision].network(nets[model])
    assert ours.runtime == ("openvino" if precision == "fp32" or NATIVE_BF16 else "torch")
    batch = np.stack([texture(23, 17, seed=s).astype(np.float32) / 255 for s in (1, 2)])
    out = ours.run(batch)
    assert out.shape == (2, 23 * ours.scale, 17 * ours.scale, 3) and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1 and out.std() > 0.03
    assert psnr(out, theirs.run(batch)) >= FLOOR_DB[precision]


def break_openvino(net: OpenVinoNetwork, monkeypatch, broken_batches: set[int], value: float) -> list[str]:
    """The OpenVINO network's raw output becomes ``value`` for these reduced-precision batches
    (counted from 1); returns the precisions of every batch run."""
    real = net._forward
    precisions: list[str] = []

    def forward(batch: np.ndarray, precision: str) -> np.ndarray:
        precisions.append(precision)
        out = real(batch, precision)
        if precision != "fp32" and len([p for p in precisions if p != "fp32"]) in broken_batches:
            return np.full_like(out, value)
        return out

    monkeypatch.setattr(net, "_forward", forward)
    return precisions


@pytest.mark.skipif(not NATIVE_BF16, reason="OpenVINO runs bf16 only where the CPU has it (torch runs it elsewhere)")
@pytest.mark.parametrize("broken,value", [({2}, float("nan")), (EVERY_BATCH, float("inf")), ({3}, -0.5)],
                         ids=["nan-second-batch", "inf-every-batch", "black-third-batch"])
def test_a_broken_bf16_batch_is_redone_in_fp32(zoo, nets, tmp_path, monkeypatch, broken, value) -> None:
    options = EngineOptions(model=nets["srvgg"], tile=16, tile_pad=4, batch_size=2, alpha="model", seamless=True,
                        outscale=3.0)
    image = texture(40, 36, channels=4, seed=31)
    engine = Engine(zoo, "cpu", "bf16", cpu_runtime="openvino", conversion_dir=tmp_path)
    net = engine.network(options.model)
    precisions = break_openvino(net, monkeypatch, broken, value)
    seen, progress = recorded_progress()

    out = engine.upscale(image, options, progress)

    reference = Engine(zoo, "cpu", "fp32", cpu_runtime="openvino", conversion_dir=tmp_path).upscale(image, options)
    np.testing.assert_array_equal(out, reference)
    assert net.precision == "fp32" and net.runtime == "openvino"
    first_fp32 = precisions.index("fp32")
    assert "bf16" in precisions[:first_fp32] and set(precisions[first_fp32:]) == {"fp32"}
    assert_progress_ends_at_its_total(seen)


# -- the conversion cache ---------------------------------------------------------------------------

@pytest.fixture
def conversions(monkeypatch) -> list[str]:
    """The names of the models converted from now on."""
    converted: list[str] = []
    real = openvino_cache._save_ir

    def save(spec, state, folder):
        converted.append(spec.arch)
        real(spec, state, folder)

    monkeypatch.setattr(openvino_cache, "_save_ir", save)
    return converted


def ov_engine(zoo: ModelZoo, folder: Path, precision: str = "fp32") -> Engine:
    """A fresh engine (as a new process has) on OpenVINO, its conversions in ``folder``."""
    return Engine(zoo, "cpu", precision, cpu_runtime="openvino", conversion_dir=folder)


def only_entry(folder: Path) -> Path:
    entries = [p for p in folder.iterdir() if p.is_dir()]
    assert len(entries) == 1, entries
    return entries[0]


def test_a_conversion_is_reused_by_the_next_process(tmp_path: Path, conversions) -> None:
    zoo = ModelZoo(tmp_path / "models")
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG), "tiny")
    image = texture(20, 20, seed=1)
    first = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    second = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    assert conversions == ["SRVGGNetCompact"]
    np.testing.assert_array_equal(first, second)
    entry = only_entry(tmp_path / "ov")
    assert (entry / "compiled" / "blobs.json").is_file() and any((entry / "compiled").glob("*.blob"))


def test_new_weights_under_the_same_name_are_converted_again(tmp_path: Path, conversions) -> None:
    zoo = ModelZoo(tmp_path / "models")
    image = texture(20, 20, seed=1)
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG, seed=0), "tiny")
    before = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG, seed=1), "tiny")  # retrained, say
    after = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    assert conversions == ["SRVGGNetCompact"] * 2
    torch_after = Engine(zoo, "cpu", "fp32").upscale(image, EngineOptions(model="tiny"))
    np.testing.assert_array_equal(after, torch_after)
    assert not np.array_equal(before, after)
    only_entry(tmp_path / "ov")  # the stale conversion is gone


def test_another_runtime_version_converts_again(tmp_path: Path, conversions, monkeypatch) -> None:
    zoo = ModelZoo(tmp_path / "models")
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG), "tiny")
    ov_engine(zoo, tmp_path / "ov").network("tiny")
    old = only_entry(tmp_path / "ov")
    monkeypatch.setattr(openvino_cache, "openvino_version", lambda: "2099.1.0-upgraded")
    ov_engine(zoo, tmp_path / "ov").network("tiny")
    assert conversions == ["SRVGGNetCompact"] * 2
    assert only_entry(tmp_path / "ov") != old


@pytest.mark.parametrize("damage", ["weights", "graph", "manifest", "missing"])
def test_a_damaged_conversion_is_replaced_not_loaded(tmp_path: Path, conversions, caplog, damage: str) -> None:
    zoo = ModelZoo(tmp_path / "models")
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG), "tiny")
    image = texture(20, 20, seed=1)
    good = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    entry = only_entry(tmp_path / "ov")
    if damage == "weights":  # same size, a few bytes changed: only a checksum can tell
        data = bytearray((entry / "model.bin").read_bytes())
        data[len(data) // 2 : len(data) // 2 + 8] = b"\x7f" * 8
        (entry / "model.bin").write_bytes(bytes(data))
    elif damage == "graph":
        (entry / "model.xml").write_text((entry / "model.xml").read_text().replace("Convolution", "Convolutio", 1))
    elif damage == "manifest":
        (entry / "manifest.json").write_text("{not json")
    else:
        (entry / "model.xml").unlink()
    with caplog.at_level(logging.WARNING, logger="upscaler.engine.openvino_cache"):
        again = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    assert "corrupt" in caplog.text and conversions == ["SRVGGNetCompact"] * 2
    np.testing.assert_array_equal(again, good)


def test_a_damaged_compiled_model_is_compiled_again(tmp_path: Path, caplog) -> None:
    """OpenVINO loads its cached compiled models without checking them: we check them first."""
    zoo = ModelZoo(tmp_path / "models")
    zoo.import_file(random_network_file(tmp_path, TINY_SRVGG), "tiny")
    image = texture(20, 20, seed=1)
    good = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    blobs = list((only_entry(tmp_path / "ov") / "compiled").glob("*.blob"))
    assert blobs
    for blob in blobs:
        blob.chmod(0o600)
        data = bytearray(blob.read_bytes())
        data[1000:1008] = b"\x00" * 8
        blob.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="upscaler.engine.openvino_cache"):
        again = ov_engine(zoo, tmp_path / "ov").upscale(image, EngineOptions(model="tiny"))
    assert "does not match its record" in caplog.text
    np.testing.assert_array_equal(again, good)
    record = (only_entry(tmp_path / "ov") / "compiled" / "blobs.json").read_text()
    assert all(blob.name in record for blob in (only_entry(tmp_path / "ov") / "compiled").glob("*.blob"))


# -- choosing the runtime -----------------------------------------------------------------------------

def test_auto_chooses_openvino_and_torch_stays_torch(zoo, nets) -> None:
    assert Engine(zoo, "cpu", "fp32", cpu_runtime="auto").runtime == "openvino"
    assert Engine(zoo, "cpu", "fp32", cpu_runtime="torch").network(nets["srvgg"]).runtime == "torch"
    with pytest.raises(ValueError, match="CPU runtime"):
        Engine(zoo, "cpu", "fp32", cpu_runtime="tensorflow")


def test_without_openvino_auto_is_torch_and_a_request_for_it_warns(zoo, monkeypatch, caplog) -> None:
    monkeypatch.setattr(backends, "openvino_import_error", lambda: "ImportError: No module named 'openvino'")
    assert Engine(zoo, "cpu", "fp32", cpu_runtime="auto").runtime == "torch"
    assert "OpenVINO" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="upscaler.engine.backends"):
        assert Engine(zoo, "cpu", "fp32", cpu_runtime="openvino").runtime == "torch"
    assert "does not import" in caplog.text


def test_a_network_openvino_cannot_convert_runs_on_torch_and_says_why(zoo, nets, tmp_path, monkeypatch,
                                                                       caplog) -> None:
    def refuse(spec, state, folder):
        raise RuntimeError("Model wasn't fully converted: aten::something_new")

    monkeypatch.setattr(openvino_cache, "_save_ir", refuse)
    with caplog.at_level(logging.WARNING, logger="upscaler.engine.backends"):
        net = ov_engine(zoo, tmp_path).network(nets["srvgg"])
    assert net.runtime == "torch"
    assert "OpenVINO cannot run it" in caplog.text and "aten::something_new" in caplog.text


def test_engine_from_settings_runs_openvino_on_cpu(zoo, nets, monkeypatch, isolated_data_dir) -> None:
    from upscaler.settings import Settings

    engine = Engine.from_settings(zoo, Settings(), device="cpu", precision="fp32")
    assert engine.runtime == "openvino" and engine.network(nets["srvgg"]).runtime == "openvino"
    assert engine.conversion_dir == isolated_data_dir / "openvino"
    monkeypatch.setenv("UPSCALER_CPU_RUNTIME", "torch")
    assert Engine.from_settings(zoo, Settings(), device="cpu").runtime == "torch"


def test_psnr_floor_would_catch_another_network(engines, nets) -> None:
    """The 100 dB floor above is not lenient: another network's output is nowhere near it."""
    image = texture(24, 24, seed=2)
    ours = engines["openvino", "fp32"].upscale(image, EngineOptions(model=nets["srvgg"]))
    other = engines["torch", "fp32"].upscale(image, EngineOptions(model=nets["rrdb"]))
    assert psnr(ours / 255, other / 255) < 30 and not math.isinf(psnr(ours / 255, other / 255))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["realesrgan-x4plus", "realsr-df2k-x4", "realesr-animevideov3"])
def test_the_built_in_models_run_on_openvino_as_on_torch(zoo, tmp_path_factory, model: str) -> None:
    """The zoo's pretrained networks (x4plus, the profiles' detail model, the compact one), converted
    for real: torch's float output within 100 dB in fp32, 45 dB in bf16."""
    conversions = tmp_path_factory.getbasetemp() / "ov-built-in"
    batch = texture(32, 28, seed=12).astype(np.float32)[None] / 255
    for precision in ("fp32", "bf16"):
        ours = Engine(zoo, "cpu", precision, cpu_runtime="openvino", conversion_dir=conversions).network(model)
        theirs = Engine(zoo, "cpu", precision).network(model)
        assert ours.runtime == ("openvino" if precision == "fp32" or NATIVE_BF16 else "torch")
        assert psnr(ours.run(batch), theirs.run(batch)) >= FLOOR_DB[precision], (model, precision)
