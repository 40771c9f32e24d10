"""Fixtures: an isolated data dir, the model zoo, engines, tiny random networks, the services.

Tests that need the machine's PostgreSQL or Redis, an S3 endpoint, or real worker processes
are marked ``integration`` (by the fixtures they use, or by their module): ``pytest -m "not
integration"`` is the fast path. Helpers that are not fixtures live in support.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import pg_url, redis_url, s3, s3_endpoint  # noqa: F401  (fixtures)
from tests.support import TINY_RRDB, TINY_SRVGG, random_network_file
from upscaler.engine import Engine
from upscaler.settings import get_settings
from upscaler.zoo.registry import ModelZoo

SERVICE_FIXTURES = {"pg_url", "redis_url", "s3", "s3_endpoint"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


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


@pytest.fixture(scope="session")
def tiny_srvgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_network_file(tmp_path_factory.mktemp("nets"), TINY_SRVGG)


@pytest.fixture(scope="session")
def tiny_rrdb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_network_file(tmp_path_factory.mktemp("nets"), TINY_RRDB)


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch) -> Path:
    """A private data dir (its own SQLite database) and the no-op engine: x4 nearest neighbour
    (the embedded default as a user runs it, without a network to wait for)."""
    for name in ("UPSCALER_BROKER_URL", "UPSCALER_DATABASE_URL", "UPSCALER_TILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("UPSCALER_ENGINE_NOOP", "1")
    from workers.core import runtime

    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    runtime._engine_for.cache_clear()
