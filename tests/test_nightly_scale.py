"""A nightly scan's work beyond the listing is the new images, not the whole inbox, and so is a
resubmission's (embedded SQLite, a local inbox: nothing is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from upscaler.jobspec import JobRequest
from upscaler.settings import get_settings


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch) -> Path:
    for name in ("UPSCALER_BROKER_URL", "UPSCALER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("UPSCALER_DATA_DIR", str(tmp_path / "state"))
    get_settings.cache_clear()
    from db.migrate import upgrade

    upgrade()
    yield tmp_path
    get_settings.cache_clear()


def test_a_rescan_builds_jobs_for_the_new_images_only(embedded: Path, monkeypatch) -> None:
    from producer import intake

    inbox = embedded / "inbox"
    inbox.mkdir()
    for i in range(40):
        (inbox / f"tile-{i:02d}.png").write_bytes(b"x" * (i + 1))  # never decoded: nothing runs here
    intake.add_watch("acme", str(inbox), str(embedded / "out"), JobRequest.from_fields(model="m"))
    watch_id = intake_watch_id()
    first = intake.scan_watch(watch_id)
    assert first.created == 40

    built = []
    job_rows = intake.job_rows
    monkeypatch.setattr(intake, "job_rows", lambda batch_id, images, *a, **k: built.append(len(images))
                        or job_rows(batch_id, images, *a, **k))
    (inbox / "tile-new.png").write_bytes(b"new")
    (inbox / "tile-07.png").write_bytes(b"replaced, so a new version")
    again = intake.scan_watch(watch_id)
    assert again.created == 2 and built == [2]


def test_a_resubmission_checks_outputs_for_its_new_rows_only(embedded: Path, monkeypatch) -> None:
    """Rows whose request has a job already are duplicates: the output claims are read for the
    new rows only (a resubmitted catalogue of 10^5 rows read 10^5 output keys back)."""
    from db import jobs as jobs_table
    from producer.submit import create_batch

    inbox = embedded / "inbox"
    inbox.mkdir()
    for i in range(30):
        (inbox / f"tile-{i:02d}.png").write_bytes(b"x" * (i + 1))
    first = create_batch([str(inbox)], str(embedded / "out"), params=JobRequest.from_fields(model="m"))
    assert first.created == 30

    asked: list[int] = []
    live_claims = jobs_table.live_claims
    monkeypatch.setattr(jobs_table, "live_claims", lambda session, keys, *a: asked.append(len(keys))
                        or live_claims(session, keys, *a))
    (inbox / "tile-new.png").write_bytes(b"new")
    again = create_batch([str(inbox)], str(embedded / "out"), params=JobRequest.from_fields(model="m"))
    assert (again.created, again.duplicates) == (1, 30) and asked == [1]


def intake_watch_id():
    from db.session import session_scope
    from producer.intake import list_watches

    with session_scope() as session:
        return list_watches(session)[0].id


def test_relative_paths_from_two_checkouts_are_two_requests(embedded: Path, monkeypatch) -> None:
    """`submit samples/ --output out/` typed in two checkouts names different files: the second
    is not "already submitted" (its outputs would never be written), and the jobs hold absolute
    paths, so a worker in any directory finds them."""
    from sqlalchemy import select

    from db.migrate import upgrade
    from db.models import Job
    from db.session import session_scope
    from producer.submit import create_batch

    upgrade()
    for checkout in ("one", "two"):
        (embedded / checkout / "samples").mkdir(parents=True)
        (embedded / checkout / "samples" / "brick.png").write_bytes(b"same bytes")
    monkeypatch.chdir(embedded / "one")
    first = create_batch(["samples/"], "out/", params=JobRequest.from_fields(model="m"))
    monkeypatch.chdir(embedded / "two")
    second = create_batch(["samples/"], "out/", params=JobRequest.from_fields(model="m"))
    assert (first.created, second.created, second.duplicates) == (1, 1, 0)
    with session_scope() as session:
        uris = sorted((j.source_uri, j.output_uri) for j in session.scalars(select(Job)))
    assert uris == [(str(embedded / c / "samples" / "brick.png"), str(embedded / c / "out" / "brick.png"))
                    for c in ("one", "two")]
