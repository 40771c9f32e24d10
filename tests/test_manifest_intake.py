"""Every manifest row is checked at intake: a bad row is refused with its row number and reason,
the other rows go on, and no database error reaches the user. Through the command line, on
PostgreSQL (which enforces column lengths) and SQLite, with the in-process worker.

- a 10,000-character ``material``, a NUL in ``supplier``, a ``size`` that is no number, an
  empty ``source_uri``: each its own refused row;
- ``UPSCALER_SOURCE_ROOTS``: rows outside the allowed roots (another folder, another bucket) are
  refused with ``source_not_allowed``; a SOURCE prefix outside them is refused whole.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from db.models import Job
from tests.services import run_cli, service_env
from tests.textures import texture

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    return request.getfixturevalue("pg_url")


def upgraded(env: dict[str, str]) -> dict[str, str]:
    assert run_cli(["db", "upgrade"], env).returncode == 0
    return env


def image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), texture(8, 8, seed=seed))
    return path


def statuses(url: str) -> dict[str, str]:
    with Session(create_engine(url)) as session:
        return {Path(j.source_uri).name: j.status.value for j in session.scalars(select(Job))}


def test_a_bad_row_is_refused_with_its_number_and_the_others_go_on(database_url: str, tmp_path: Path) -> None:
    env = upgraded(service_env(tmp_path / "state", database_url=database_url, engine_noop="1"))
    rows = [("a.png", "", "stone", ""), ("b.png", "", "x" * 10_000, ""), ("c.png", "Acme\0Corp", "wood", ""),
            ("d.png", "", "wood", "12 bytes"), ("e.png", "", "metal", "")]
    lines = ["source_uri,supplier,material,size"]
    for i, (name, supplier, material, size) in enumerate(rows):
        lines.append(f"{image(tmp_path / 'in' / name, seed=i)},{supplier},{material},{size}")
    lines.append(",,stone,")  # an empty source_uri
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text("\n".join(lines) + "\n")
    result = run_cli(["submit", "--manifest", str(manifest), "--output", str(tmp_path / "out"), "--json"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "StringDataRightTruncation" not in result.stderr
    assert len(result.stderr) < 3000  # reasons, not 12 KB of SQL parameters
    report = json.loads(result.stdout)
    assert report["created"] == 2
    refused = {r["row"]: r for r in report["refused"]}
    assert sorted(refused) == [3, 4, 5, 7]
    assert refused[3]["code"] == "bad_manifest_row"
    assert refused[3]["reason"] == "material is 10000 characters long, at most 100"
    assert refused[3]["source_uri"].endswith("b.png")
    assert refused[4]["reason"] == "supplier contains a control character"
    assert "size '12 bytes' is not a whole number of bytes" in refused[5]["reason"]
    assert refused[7]["reason"] == "empty source_uri"
    assert statuses(database_url) == {"a.png": "succeeded", "e.png": "succeeded"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "e.png"]


def test_sources_outside_the_allowed_roots_are_refused_per_row(database_url: str, tmp_path: Path) -> None:
    allowed = tmp_path / "suppliers"
    env = upgraded(service_env(tmp_path / "state", database_url=database_url, engine_noop="1",
                               source_roots=f"{allowed},s3://supplier-bucket/incoming/"))
    inside = image(allowed / "acme" / "a.png")
    elsewhere = image(tmp_path / "private" / "b.png", seed=1)
    manifest = tmp_path / "catalogue.csv"
    manifest.write_text(f"source_uri\n{inside}\n{elsewhere}\ns3://another-bucket/c.png\n"
                        f"{allowed}/../private/b.png\n")
    result = run_cli(["submit", "--manifest", str(manifest), "--output", str(tmp_path / "out"), "--json"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["created"] == 1
    assert [(r["row"], r["code"]) for r in report["refused"]] == [(3, "source_not_allowed"), (4, "source_not_allowed"),
                                                                  (5, "source_not_allowed")]
    assert "not under an allowed source root" in report["refused"][0]["reason"]
    assert statuses(database_url) == {"a.png": "succeeded"}

    whole = run_cli(["submit", str(tmp_path / "private"), "--output", str(tmp_path / "out2")], env)
    assert whole.returncode != 0 and "not under an allowed source root" in " ".join(whole.stderr.split())
    assert "Traceback" not in whole.stderr
    watch = run_cli(["watch", "add", "private", str(tmp_path / "private"), "--output", str(tmp_path / "out3")], env)
    assert watch.returncode != 0 and "not under an allowed source root" in " ".join(watch.stderr.split())
    allowed_watch = run_cli(["watch", "add", "acme", str(allowed / "acme"), "--output", str(tmp_path / "out4")], env)
    assert allowed_watch.returncode == 0, allowed_watch.stderr
