"""Nothing overwritten, nothing left running, on the embedded default (SQLite, local folders,
the in-process worker), through the command line as a user runs it.

- distinct sources whose outputs would be one object: the later ones fail (or get a suffix);
- an output folder inside a source folder: refused before any job exists (submit, watch add);
- an unexpected exception while a job runs: the job fails with ``internal_error``;
- ``submit`` and ``watch add`` take their tile from ``UPSCALER_TILE`` like ``upscale``;
- manifest rows repeated, ambiguous batch prefixes, control characters in names, empty batches.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from cli.main import app
from db.models import Job, JobStatus
from db.session import session_scope
from tests.textures import texture
from upscaler.settings import get_settings
from workers.core import runtime

runner = CliRunner()


def image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), texture(8, 8, seed=seed))
    return path


def submit(*args: str) -> dict:
    """The report of a submit whose jobs run in process: exit 1 when any of them failed (a
    collision refused, say), else 0."""
    result = runner.invoke(app, ["submit", *args, "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if report.get("summary", {}).get("counts", {}).get("failed") else 0), result.output
    return report


def all_jobs() -> list[Job]:
    with session_scope() as session:
        return list(session.scalars(select(Job).order_by(Job.source_uri)))


def test_sources_that_would_share_an_output_do_not(embedded: Path) -> None:
    src, out = embedded / "src", embedded / "out"
    for name in ("a.png", "a.PNG", "d.jpg", "d.jpeg", "x/b.png", "X/b.png"):
        image(src / name, seed=len(name))
    report = submit(str(src), "--output", str(out), "--wait")
    assert report["created"] == 6 and report["collisions"] == 3
    jobs = all_jobs()
    done = [j for j in jobs if j.status == JobStatus.succeeded]
    refused = [j for j in jobs if j.status == JobStatus.failed]
    assert len(done) == 3 and {j.error_code for j in refused} == {"output_collision"}
    assert len({j.output_key for j in done}) == 3  # one object per successful job
    for job in refused:  # the message names both sources
        assert job.source_uri in job.error_message and any(d.source_uri in job.error_message for d in done)
    # A retry must not run them: it would overwrite the other source's output.
    assert json.loads(runner.invoke(app, ["retry", report["batch_id"], "--json"]).stdout)["requeued"] == 0

    renamed = submit(str(src), "--output", str(out), "--on-collision", "suffix", "--wait")
    assert renamed["created"] == 3 and renamed["summary"]["counts"]["succeeded"] == 3
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*"))
    assert len(outputs) == 6 and sum("~" in name for name in outputs) == 3


def test_a_job_colliding_with_an_earlier_batch_is_refused(embedded: Path) -> None:
    first, second, out = embedded / "supplier-a", embedded / "supplier-b", embedded / "out"
    image(first / "albedo.png", 1)
    image(second / "albedo.png", 2)
    submit(str(first), "--output", str(out), "--wait")
    later = submit(str(second), "--output", str(out), "--wait")
    (job,) = [j for j in all_jobs() if j.batch_id.hex == later["batch_id"].replace("-", "")]
    assert job.status == JobStatus.failed and job.error_code == "output_collision"
    assert str(first / "albedo.png") in job.error_message


def test_manifest_rows_with_one_output_key(embedded: Path) -> None:
    a, b = image(embedded / "acme" / "albedo.png", 1), image(embedded / "brix" / "albedo.png", 2)
    manifest = embedded / "catalogue.csv"
    manifest.write_text(f"source_uri,output_key\n{a},albedo.png\n{b},albedo.png\n" + f"{a},albedo.png\n" * 50)
    report = submit("--manifest", str(manifest), "--output", str(embedded / "out"), "--wait")
    assert (report["created"], report["repeated"], report["collisions"]) == (2, 50, 1)
    assert report["summary"]["counts"] == {"queued": 0, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 0}


@pytest.mark.parametrize("output", ["{src}", "{src}/up", "{src}/./up/../up2"])
def test_an_output_inside_the_sources_is_refused_before_any_job(embedded: Path, output: str) -> None:
    src = embedded / "src"
    image(src / "a.png")
    result = runner.invoke(app, ["submit", str(src), "--output", output.format(src=src)])
    # A local output folder is checked before anything is listed: exit 73, the output location.
    assert result.exit_code == 73 and "inside the source" in " ".join(result.output.split())
    assert all_jobs() == []
    watch = runner.invoke(app, ["watch", "add", "inbox", str(src), "--output", output.format(src=src)])
    assert watch.exit_code == 1 and "inside the source" in " ".join(watch.output.split())
    assert json.loads(runner.invoke(app, ["watch", "list", "--json"]).stdout) == []


def test_a_manifest_writing_over_its_own_source_is_refused(embedded: Path) -> None:
    source = image(embedded / "shop" / "oak.png")
    manifest = embedded / "m.csv"
    manifest.write_text(f"source_uri,output_key\n{source},oak.png\n")
    result = runner.invoke(app, ["submit", "--manifest", str(manifest), "--output", str(embedded / "shop")])
    assert result.exit_code == 1 and "over the source" in " ".join(result.output.split())
    assert all_jobs() == []


def test_an_unexpected_error_fails_the_job_in_process(embedded: Path, monkeypatch) -> None:
    src = embedded / "src"
    image(src / "a.png")
    image(src / "b.png", 1)

    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug in the engine")

    monkeypatch.setattr(runtime.NoopEngine, "upscale", broken)
    report = submit(str(src), "--output", str(embedded / "out"), "--wait")
    assert report["summary"]["counts"]["failed"] == 2 and report["summary"]["counts"]["running"] == 0
    assert {f["error_code"] for f in report["summary"]["failures"]} == {"internal_error"}
    assert "RuntimeError: a bug in the engine" in report["summary"]["failures"][0]["error"]


def test_submit_and_watch_add_take_the_tile_from_the_settings(embedded: Path, monkeypatch) -> None:
    monkeypatch.setenv("UPSCALER_TILE", "96")
    get_settings.cache_clear()
    src = embedded / "src"
    image(src / "a.png")
    submit(str(src), "--output", str(embedded / "out"), "--dry-run")
    submit(str(src), "--output", str(embedded / "out"))
    (job,) = all_jobs()
    assert job.params["tile"] == 96
    assert runner.invoke(app, ["watch", "add", "inbox", str(src), "--output", str(embedded / "w")]).exit_code == 0
    (watch,) = json.loads(runner.invoke(app, ["watch", "list", "--json"]).stdout)
    assert watch["params"]["tile"] == 96
    explicit = runner.invoke(app, ["watch", "add", "other", str(src), "--output", str(embedded / "w2"),
                                   "--tile", "64", "--outscale", "2", "--alpha", "model"])
    assert explicit.exit_code == 0, explicit.output
    other = next(w for w in json.loads(runner.invoke(app, ["watch", "list", "--json"]).stdout) if w["name"] == "other")
    assert (other["params"]["tile"], other["params"]["outscale"], other["params"]["alpha"]) == (64, 2.0, "model")


def test_status_escapes_control_characters_and_names_ambiguity(embedded: Path) -> None:
    src = embedded / "src"
    image(src / "evil\n2026-01-01 INFO forged\x1b[2J.png")
    report = submit(str(src), "--output", str(embedded / "out"), "--name", "line\nbreak", "--wait")
    shown = runner.invoke(app, ["status", report["batch_id"]])
    assert shown.exit_code == 0 and "\x1b" not in shown.output and "line\\nbreak" in shown.output
    listed = runner.invoke(app, ["status"])
    assert "\x1b" not in listed.output and "line\nbreak" not in listed.output
    for seed in range(40):  # enough batches that two share their first hex digit
        image(embedded / f"more{seed}" / "a.png", seed)
        submit(str(embedded / f"more{seed}"), "--output", str(embedded / f"out{seed}"))
    ids = [b["batch_id"] for b in json.loads(runner.invoke(app, ["status", "--json"]).stdout)]
    shared = next(i[0] for i in ids if sum(j[0] == i[0] for j in ids) > 1)
    ambiguous = runner.invoke(app, ["status", shared])
    assert ambiguous.exit_code == 1 and "ambiguous" in ambiguous.output


def test_a_submit_that_creates_nothing_leaves_no_batch(embedded: Path, monkeypatch) -> None:
    """Two submits of the same sources at once: the one whose inserts all conflict makes no batch."""
    from db import jobs as jobs_table

    src = embedded / "src"
    image(src / "a.png")
    submit(str(src), "--output", str(embedded / "out"))
    # The race's view: none of the rows has a job yet when they are checked.
    monkeypatch.setattr(jobs_table, "existing_keys", lambda session, keys, live_only=False: set())
    monkeypatch.setattr(jobs_table, "existing_and_unsent", lambda session, keys: (set(), []))
    raced = submit(str(src), "--output", str(embedded / "out"))
    assert raced["batch_id"] is None and raced["created"] == 0
    assert len(json.loads(runner.invoke(app, ["status", "--json"]).stdout)) == 1


def test_flower_refuses_empty_credentials(monkeypatch) -> None:
    monkeypatch.setenv("UPSCALER_BROKER_URL", "redis://127.0.0.1:1/0")
    for credentials in ("user:", ":", ":secret", " : "):
        monkeypatch.setenv("UPSCALER_FLOWER_BASIC_AUTH", credentials)
        get_settings.cache_clear()
        refused = runner.invoke(app, ["flower"])
        assert refused.exit_code == 2 and "neither part empty" in refused.output
    get_settings.cache_clear()


def test_log_lines_cannot_be_forged_by_a_file_name(capsys) -> None:
    import logging

    from upscaler.logs import configure_logging

    configure_logging("INFO", "text")
    logging.getLogger("probe").info("job failed: %s", "a.png\n2026-01-01 00:00:00 INFO forged: all good\x1b[2J")
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "\x1b" not in line and "a.png\\n2026" in line
