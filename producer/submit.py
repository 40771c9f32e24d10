"""Create a batch of jobs in one transaction, then enqueue their ids. The Python API for scripts.

    from cli.common import dispatcher
    from producer.submit import create_batch
    result = create_batch(["s3://supplier-bucket/catalogue-2026/"], "s3://boards/upscaled/2026/")
    dispatcher().jobs(result.job_ids)   # the broker's queue, or this process with no broker
    print(result.batch_id, result.created, result.duplicates)

SQL first, broker second: a job exists (queued) before its message does, so a lost message
can always be rebuilt from the table; the reverse (a message for a job that does not exist)
cannot happen.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from db import jobs as jobs_table
from db import transitions
from db.jobs import NewJob
from db.models import Batch
from db.profiles import profiles_in_effect
from db.session import Session, session_scope
from producer import collisions
from producer.manifest_rows import RefusedRow
from producer.sources import (
    InPlaceOutputError,
    SourceImage,
    from_listing,
    from_manifest,
    refuse_output_inside_sources,
    refuse_sources_outside_roots,
)
from upscaler.errors import ErrorCode
from upscaler.jobspec import JobRequest, idempotency_key
from upscaler.materials.names import AUTO, category_from_path
from upscaler.profiles import default_profiles, params_for_material
from upscaler.settings import get_settings
from upscaler.storage import (
    Storage,
    StorageError,
    ancestor_folders,
    collision_key,
    folder_key,
    is_s3,
    safe_join,
    set_folder,
)


@dataclass
class SubmitResult:
    batch_id: uuid.UUID | None
    created: int
    duplicates: int                 # already submitted before (same source, version, parameters, output)
    skipped: list[str] = field(default_factory=list)   # non-image names, not submitted
    job_ids: list[uuid.UUID] = field(default_factory=list)  # to send: the new jobs, and old ones never sent
    repeated: int = 0               # the same source listed more than once in this submission
    collisions: int = 0             # jobs failed (or renamed) because another source has their output key
    resent: int = 0                 # earlier jobs of these sources that were never sent, sent now
    warnings: list[str] = field(default_factory=list)  # e.g. materials that are not a category
    refused: list[RefusedRow] = field(default_factory=list)  # manifest rows no job was made of, with why
    empty_sources: list[str] = field(default_factory=list)  # sources that listed no image (a typo?)

    def to_json(self) -> dict:
        return {"batch_id": str(self.batch_id) if self.batch_id else None, "created": self.created,
                "duplicates": self.duplicates, "repeated": self.repeated, "collisions": self.collisions,
                "resent": self.resent, "skipped": self.skipped, "warnings": self.warnings,
                "refused": [row.to_json() for row in self.refused], "empty_sources": self.empty_sources}


def expand_sources(storage: Storage, sources: Iterable[str], manifest: Path | None, roots: list[str] | None = None,
                   empty: list[str] | None = None) -> tuple[list[SourceImage], list[str], list[RefusedRow]]:
    """The images to submit, the non-image names skipped, and the manifest rows refused; each
    source (or the manifest) that holds no image is added to ``empty``."""
    images: list[SourceImage] = []
    skipped: list[str] = []
    refused: list[RefusedRow] = []
    streams = [(source, from_listing(storage, source)) for source in sources]
    if manifest is not None:
        streams.append((f"manifest {manifest}", from_manifest(storage, manifest, roots)))
    for label, stream in streams:
        before = len(images)
        for item in stream:
            if isinstance(item, SourceImage):
                images.append(item)
            elif isinstance(item, RefusedRow):
                refused.append(item)
            else:
                skipped.append(item)
        if len(images) == before and empty is not None:
            empty.append(label)
    return images, skipped, refused


def job_rows(batch_id: uuid.UUID, images: list[SourceImage], output: str, params: JobRequest,
             session: Session | None = None, on_collision: str = "fail",
             warnings: list[str] | None = None) -> tuple[list[NewJob], int, int]:
    """New jobs, how many sources were listed more than once, and how many outputs clashed.

    A manifest row's ``tileable``, ``repeat`` and ``width_mm`` replace the request's for that row,
    and its map-control cells the request's and the profile's controls.
    A source with a material (its manifest row's, else ``params.material``) runs that category's
    profile, as set in SQL when a ``session`` is given (else the shipped defaults); a material
    that is no category runs the ``other`` profile, and its warning is added to ``warnings``.

    A source whose output key would leave the output prefix (``..`` segments in an S3 key or a
    manifest's output_key) becomes a job refused from the start, with the reason, so the rest of
    the batch goes on and the operator sees why; so does one whose output another source has
    (producer/collisions.py; checked against the jobs in SQL when a ``session`` is given, under
    the output lock that the session's transaction then holds until it ends)."""
    rows: list[NewJob] = []
    seen = set()
    profiles = profiles_in_effect(session) if session is not None else default_profiles()
    params_of: dict[uuid.UUID, JobRequest] = {}  # each row's parameters, for its idempotency key
    # A catalogue has few materials: each one's parameters (and their stored form, one dict shared
    # by its rows) are made once.
    # A manifest row's board-ready columns (tileable, repeat, width_mm) override the request's.
    by_material: dict[tuple, tuple[JobRequest, str | None, dict]] = {}
    for image in images:
        overrides = image.board_overrides()
        # ``--material auto``: a source without a material of its own gets the category its name
        # gives (folder or file name, through the synonym table), if any.
        detected = category_from_path(image.uri) if params.material == AUTO and not image.material else None
        kind = (image.material, detected, *sorted(overrides.items()), image.map_controls)
        if kind not in by_material:
            made, warned = params_for_material(params, image.material, profiles, name=image.uri)
            # The row's board and map-control cells over the request's (and the profile's).
            row_fields = {**overrides, **dict(image.map_controls)}
            made = made.with_fields(**row_fields) if row_fields else made
            by_material[kind] = made, warned, made.to_json()
        job_params, warning, stored = by_material[kind]
        if warning and warnings is not None and warning not in warnings:
            warnings.append(warning)
        relative = image.output_key or posixpath.splitext(image.relative_key)[0] + job_params.extension(image.uri)
        try:
            out_uri, unsafe = safe_join(output, relative), None
        except StorageError as exc:
            out_uri, unsafe = "", f"{image.uri}: {exc}"
        if (image.uri, image.etag, out_uri) in seen:
            continue  # the same source listed twice in one submission
        seen.add((image.uri, image.etag, out_uri))
        job = NewJob(uuid.uuid4(), batch_id, image.uri, image.etag, image.size, out_uri, job_params.model,
                     stored, image.supplier, image.material or job_params.material, job_params.profile,
                     job_params.engine.detail if job_params.profile else None)
        if job_params.makes_maps and out_uri:  # its material set's folder is its too (settled below)
            job.output_set_key = folder_key(set_folder(out_uri))
        if unsafe:
            transitions.refuse(job, ErrorCode.unsafe_key, unsafe)
        params_of[job.id] = job_params
        rows.append(job)
    refuse_writing_into_sources(rows)
    for row in rows:
        row.idempotency_key = idempotency_key(row.source_uri, row.source_etag, params_of[row.id], row.output_uri)
    # Rows whose request has a live job already are duplicates whatever the outputs hold now
    # (that job holds its output in SQL): a resubmission's rows mostly are, and only the others
    # need the output lock, the claims read and settling (a job refused for a collision is
    # settled again: under --on-collision suffix it becomes a renamed request).
    known = (jobs_table.existing_keys(session, [r.idempotency_key for r in rows], live_only=True)
             if session is not None else set())
    fresh = [r for r in rows if r.idempotency_key not in known]
    taken = collisions.Claims()
    if session is not None:
        # From here to the caller's commit, no other intake checks or inserts outputs: the keys
        # seen free stay free until these jobs hold them.
        jobs_table.lock_outputs(session)
        keys = {collision_key(r.output_uri) for r in fresh if r.output_uri}
        folders = {r.output_set_key for r in fresh if r.output_set_key}
        ancestors = {outer for key in keys | folders for outer in ancestor_folders(key)}
        for image, folder, source in jobs_table.live_claims(session, keys, folders, ancestors):
            taken.add(image, folder, source)
    clashes = collisions.settle(fresh, taken, on_collision)
    for row in fresh:  # an output renamed by settling is another request
        row.idempotency_key = idempotency_key(row.source_uri, row.source_etag, params_of[row.id], row.output_uri)
    return rows, len(images) - len(rows), clashes


def absolute(location: str) -> str:
    """An S3 URI as it is; a local path made absolute, keeping a trailing slash (a folder)."""
    if is_s3(location):
        return location
    made = os.path.abspath(os.path.expanduser(location))
    return made + "/" if location.endswith(("/", os.sep)) and not made.endswith("/") else made


def refuse_writing_into_sources(rows: list[NewJob]) -> None:
    """No output may replace a source of the same submission (a manifest pointing its outputs at
    its inputs), nor may a material set's folder hold one (its maps would land among them):
    refused whole, before any job exists."""
    sources = {collision_key(r.source_uri): r.source_uri for r in rows}
    holders: dict[str, str] = {}  # folder key -> a source inside it
    for key, uri in sources.items():
        for folder in ancestor_folders(key):
            holders.setdefault(folder, uri)
    for row in rows:
        source = sources.get(collision_key(row.output_uri)) if row.output_uri else None
        if source is not None:
            raise InPlaceOutputError(f"{row.source_uri} would be written to {row.output_uri}, over the source "
                                     f"{source}: choose an output prefix outside the sources")
        source = holders.get(row.output_set_key) if row.output_set_key else None
        if source is not None:
            raise InPlaceOutputError(f"the material set of {row.source_uri} would be written beside the source "
                                     f"{source}, in its folder: choose an output prefix outside the sources")


def create_batch(sources: list[str], output: str, *, manifest: Path | None = None, params: JobRequest | None = None,
                 model: str | None = None, name: str | None = None, dry_run: bool = False,
                 storage: Storage | None = None, database_url: str | None = None,
                 on_collision: str = "fail") -> SubmitResult:
    """List the sources, then create the batch and its new jobs in one transaction. ``model``
    (for scripts) overrides ``params.model``.

    Refused before anything is listed or created: an output prefix equal to or inside a source
    prefix (the outputs would overwrite the originals, and the next listing would upscale them
    again)."""
    params = params or JobRequest()
    if model is not None:
        params = params.with_fields(model=model)
    storage = storage or Storage()
    # Local paths as absolute ones: a job's source, output and key name the same files from any
    # working directory (two checkouts submitting "samples/" to "out/" are two requests, not one).
    sources, output = [absolute(s) for s in sources], absolute(output)
    refuse_output_inside_sources(output, sources)
    roots = get_settings().source_roots
    refuse_sources_outside_roots(sources, roots)
    empty: list[str] = []
    images, skipped, refused = expand_sources(storage, sources, manifest, roots, empty)
    batch_id = uuid.uuid4()
    description = ", ".join(sources + ([f"manifest {manifest}"] if manifest else []))
    with session_scope(database_url) as session:
        warnings: list[str] = []
        rows, repeated, clashes = job_rows(batch_id, images, output, params, session, on_collision, warnings)
        existing, unsent = jobs_table.existing_and_unsent(session, [r.idempotency_key for r in rows])
        new_rows = [r for r in rows if r.idempotency_key not in existing]
        unsent = [] if dry_run else unsent
        if dry_run or not new_rows:
            session.rollback()
            return SubmitResult(None, len(new_rows) if dry_run else 0, len(rows) - len(new_rows), skipped,
                                unsent, repeated, clashes, len(unsent), warnings, refused, empty)
        session.add(Batch(id=batch_id, name=name or description[:200], source=description,
                          output_prefix=output, model=params.model, params=params.to_json()))
        session.flush()
        created = jobs_table.insert_new(session, new_rows)
        if not created:  # a concurrent submit of the same sources inserted them all first: no empty batch
            session.rollback()
            return SubmitResult(None, 0, len(rows), skipped, unsent, repeated, clashes, len(unsent), warnings,
                                refused, empty)
        failed_at_start = {r.id for r in new_rows if r.refused}
    runnable = [job_id for job_id in created if job_id not in failed_at_start]
    return SubmitResult(batch_id, len(created), len(rows) - len(created), skipped, runnable + unsent,
                        repeated, clashes, len(unsent), warnings, refused, empty)
