"""Shared fixtures: an isolated data dir, the model zoo, engines and tiny random networks."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import upscaler.compat  # noqa: F401
from upscaler.engine import Engine
from upscaler.settings import get_settings
from upscaler.zoo.archs import ArchSpec, build
from upscaler.zoo.registry import ModelZoo

from tests.services import pg_url, redis_url, s3, s3_endpoint  # noqa: F401,E402  (fixtures)
from tests.textures import texture  # noqa: E402,F401  (used by many tests and the benchmarks)

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every test run gets its own data dir; the built-in models are converted once per run."""
    data_dir = tmp_path_factory.mktemp("data")
    mp = pytest.MonkeyPatch()
    mp.setenv("UPSCALER_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield data_dir
    mp.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def zoo(isolated_data_dir: Path) -> ModelZoo:
    return ModelZoo(isolated_data_dir / "models")


@pytest.fixture(scope="session")
def engine(zoo: ModelZoo) -> Engine:
    """The engine as users get it: auto device, auto precision."""
    return Engine(zoo)


@pytest.fixture(scope="session")
def fp32_engine(zoo: ModelZoo) -> Engine:
    return Engine(zoo, "cpu", "fp32")


def random_network_file(folder: Path, spec: ArchSpec, seed: int = 0, wrap: str | None = "params_ema") -> Path:
    """A .pth of a small randomly initialised network, saved the way training frameworks do."""
    torch.manual_seed(seed)
    net = build(spec)
    for param in net.parameters():  # small weights keep outputs in range, like a trained net
        param.data.mul_(0.3)
    state = net.state_dict()
    path = folder / f"{spec.arch.lower()}-{seed}.pth"
    torch.save({wrap: state} if wrap else state, path)
    return path


TINY_SRVGG = ArchSpec("SRVGGNetCompact", {"num_in_ch": 3, "num_out_ch": 3, "num_feat": 8, "num_conv": 2,
                                          "upscale": 4, "act_type": "prelu"}, 4)
TINY_RRDB = ArchSpec("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": 8,
                                 "num_block": 2, "num_grow_ch": 4}, 4)


@pytest.fixture(scope="session")
def tiny_srvgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_network_file(tmp_path_factory.mktemp("nets"), TINY_SRVGG)


@pytest.fixture(scope="session")
def tiny_rrdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_network_file(tmp_path_factory.mktemp("nets"), TINY_RRDB)
