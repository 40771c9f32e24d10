"""The layers run one way (the import-linter contract in pyproject.toml) and no modules import
each other in a circle. Function-level imports count: grimp reads every import statement."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


@pytest.fixture()
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*CONFIG["root_packages"])


def _layers() -> list[grimp.Layer]:
    """The contract's layers as grimp reads them ("a | b": independent siblings)."""
    (contract,) = [c for c in CONFIG["contracts"] if c["type"] == "layers"]
    return [grimp.Layer(*[part.strip() for part in layer.split("|")], independent=True)
            for layer in contract["layers"]]


def test_import_linter_contract_is_kept() -> None:
    result = subprocess.run([str(Path(sys.executable).with_name("lint-imports"))], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_layer_check_catches_an_upward_import(graph: grimp.ImportGraph) -> None:
    assert not graph.find_illegal_dependencies_for_layers(layers=_layers())
    graph.add_import(importer="db.models", imported="workers.core.jobs", line_number=1, line_contents="x")
    illegal = graph.find_illegal_dependencies_for_layers(layers=_layers())
    assert {(d.importer, d.imported) for d in illegal} == {("db", "workers.core")}


def test_every_package_is_in_a_layer() -> None:
    """A new top-level package or worker module must be placed in the contract, not slip past it."""
    layered = {part.strip() for layer in _layers() for part in layer.module_tails}
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists() and p.name not in ("tests", "bench")}
    assert packages - {"workers"} <= layered
    workers = {f"workers.{p.stem}" for p in (ROOT / "workers").iterdir()
               if p.suffix == ".py" and p.stem != "__init__" or (p / "__init__.py").exists()}
    assert workers <= layered


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over module imports: the groups of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return groups


def test_no_import_circles(graph: grimp.ImportGraph) -> None:
    assert _strongly_connected(graph) == []
    graph.add_import(importer="upscaler.errors", imported="upscaler.settings", line_number=1, line_contents="x")
    graph.add_import(importer="upscaler.settings", imported="upscaler.errors", line_number=1, line_contents="x")
    assert ["upscaler.errors", "upscaler.settings"] in _strongly_connected(graph)


def _sql_importers(graph: grimp.ImportGraph) -> set[str]:
    """Modules outside db that import SQLAlchemy or Alembic themselves."""
    (contract,) = [c for c in CONFIG["contracts"] if c["name"].startswith("Only db speaks SQL")]
    return {importer for forbidden in contract["forbidden_modules"]
            for importer in graph.find_modules_that_directly_import(forbidden)
            if importer.split(".")[0] in contract["source_modules"]}


def test_only_db_imports_sqlalchemy() -> None:
    graph = grimp.build_graph(*CONFIG["root_packages"], include_external_packages=True)
    assert _sql_importers(graph) == set()
    graph.add_import(importer="producer.submit", imported="sqlalchemy", line_number=1, line_contents="x")
    assert _sql_importers(graph) == {"producer.submit"}


def _engine_imports_io(graph: grimp.ImportGraph) -> set[tuple[str, str]]:
    """(engine module, forbidden module) pairs: the engine importing image I/O, colour, or a job
    request, directly or through another module."""
    (contract,) = [c for c in CONFIG["contracts"] if c["name"].startswith("The engine imports no image I/O")]
    found = set()
    for source in contract["source_modules"]:
        for forbidden in contract["forbidden_modules"]:
            for chain in graph.find_shortest_chains(importer=source, imported=forbidden):
                found.add((chain[0], forbidden))
    return found


def test_the_engine_imports_no_image_io_or_colour(graph: grimp.ImportGraph) -> None:
    assert _engine_imports_io(graph) == set()
    # what the engine did before its options were its own: took the job's request type
    graph.add_import(importer="upscaler.engine.tile_network", imported="upscaler.jobspec", line_number=1,
                     line_contents="x")
    graph.add_import(importer="upscaler.jobspec", imported="upscaler.imageio.encode", line_number=1, line_contents="x")
    assert ("upscaler.engine.tile_network", "upscaler.imageio") in _engine_imports_io(graph)
