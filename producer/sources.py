"""What a submission points at, expanded into individual source images.

A SOURCE is an S3 prefix (``s3://bucket/catalogue-2026/``), a local folder, or a CSV manifest
with at least a ``source_uri`` column (optional: ``output_key``, ``supplier``, ``material``,
``etag``, ``size``, the board-ready columns ``tileable``, ``repeat`` and ``width_mm``, and the map
controls' columns ``invert_height``, ``depth``, ``normal_strength``, ``roughness``,
``roughness_range`` and ``normal_bits``, which override the submission's options (and the
material profile's) for their row).
Only image files are kept (by extension); everything else is counted as skipped.
"""

from __future__ import annotations

import csv
import math
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from producer import manifest_rows
from producer.manifest_rows import RefusedRow
from upscaler.errors import ErrorCode, PermanentError
from upscaler.image_suffixes import INPUT_SUFFIXES
from upscaler.jobspec import repeat_spelling
from upscaler.materials.controls import CONTROL_NAMES, BadControl, MapControls
from upscaler.storage import ObjectInfo, Storage, StorageError, is_inside, is_s3, split_s3


class ManifestError(PermanentError):
    code = ErrorCode.bad_manifest


class SourceNotAllowedError(PermanentError):
    """A source outside the allowed source roots (``UPSCALER_SOURCE_ROOTS``)."""

    code = ErrorCode.source_not_allowed


class InPlaceOutputError(PermanentError):
    """Outputs would land on or among their own sources."""

    code = ErrorCode.output_inside_source


def refuse_output_inside_sources(output: str, sources: list[str]) -> None:
    """An output prefix equal to or inside a source prefix would overwrite the originals, and
    every later listing would find the outputs and upscale them again; one that holds a source
    (``s3://b/par/`` for ``s3://b/par/in/``) writes into it too (``in/x.png`` of the source
    ``par/in/in/`` lands on ``par/in/x.png``): refused, naming both."""
    for source in sources:
        if is_inside(output, source):
            raise InPlaceOutputError(f"output {output} is inside the source {source}: its results would replace "
                                     "the originals and be upscaled again by the next scan; choose an output "
                                     "prefix outside every source")
        if is_inside(source, output):
            raise InPlaceOutputError(f"output {output} holds the source {source}: its results would be written "
                                     "inside the source and could replace originals; choose an output prefix "
                                     "outside every source")


def refuse_sources_outside_roots(sources: list[str], roots: list[str]) -> None:
    """A SOURCE prefix (of a submit, or a watch's inbox) outside the allowed source roots
    (``UPSCALER_SOURCE_ROOTS``; none set: any) is refused whole, before anything is listed."""
    for source in sources:
        outside = manifest_rows.outside_roots(source, roots)
        if outside is not None:
            raise SourceNotAllowedError(f"{source}: {outside}")


@dataclass(frozen=True, slots=True)
class SourceImage:
    uri: str
    relative_key: str          # path under the output prefix, before the extension change
    etag: str | None
    size: int | None
    supplier: str | None = None
    material: str | None = None
    output_key: str | None = None  # from a manifest: an explicit relative output key
    # From a manifest's board-ready columns (None: the row leaves the submission's option as it is).
    tileable: bool | None = None
    repeat: str | None = None
    width_mm: float | None = None
    # From a manifest's map-control columns: (control, value) pairs of the cells given.
    map_controls: tuple[tuple[str, Any], ...] = ()

    def board_overrides(self) -> dict[str, Any]:
        """The job parameters this row sets itself."""
        given = {"make_tileable": self.tileable, "repeat": self.repeat, "width_mm": self.width_mm}
        overrides = {name: value for name, value in given.items() if value is not None}
        if self.tileable is False and self.repeat is None:
            overrides["repeat"] = None   # "not tileable" also drops a submission-wide --repeat
        return overrides


def is_image_name(name: str) -> bool:
    return posixpath.splitext(name)[1].lower() in INPUT_SUFFIXES


def from_listing(storage: Storage, prefix: str) -> Iterator[SourceImage | str]:
    """Images under a prefix or folder; non-image names are yielded as plain strings (skipped)."""
    if is_s3(prefix) and not prefix.endswith("/"):
        prefix += "/"  # s3://b/cat must not also match s3://b/catalogue-old/...
    for info in storage.list(prefix):
        if is_image_name(info.relative_key):
            yield _from_info(info)
        else:
            yield info.uri


def _from_info(info: ObjectInfo, **extra) -> SourceImage:
    return SourceImage(info.uri, info.relative_key, info.etag, info.size, **extra)


def from_manifest(storage: Storage, manifest: Path,
                  roots: list[str] | None = None) -> Iterator[SourceImage | RefusedRow | str]:
    """Rows of a CSV manifest, in order, each source with its ETag and size: from the row's own
    ``etag`` (and ``size``) columns when it has them (trusted as given), else looked up
    (:func:`look_up`). A row whose fields cannot make a job, or whose source is outside the
    allowed ``roots``, is yielded as a :class:`RefusedRow` (producer/manifest_rows.py)."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest: {exc}") from exc
    if rows and "source_uri" not in rows[0]:
        raise ManifestError(f"{manifest}: no 'source_uri' column (columns: {', '.join(map(str, rows[0]))})")
    good: list[tuple[int, str, dict]] = []
    for line, row in enumerate(rows, start=2):
        refused = manifest_rows.check(line, row, roots or [])
        if refused is not None:
            yield refused
        else:
            good.append((line, row["source_uri"].strip(), row))
    given = {uri: _given_version(row) for _line, uri, row in good}
    # Checked for every row before anything is looked up: a typo names its line, nothing is created.
    boards = {line: _board_columns(manifest, line, row) for line, _uri, row in good}
    controls = {line: _map_control_columns(manifest, line, row) for line, _uri, row in good}
    found = look_up(storage, [u for _line, u, _row in good if is_image_name(u) and given[u] is None])
    for line, uri, row in good:
        if not is_image_name(uri):
            yield uri
            continue
        relative = posixpath.basename(uri) if is_s3(uri) else Path(uri).name
        # Missing, forbidden, no such bucket: the row becomes a job that fails with that reason
        # when a worker tries it, instead of stopping the whole submission here.
        etag, size = given[uri] or ((found[uri].etag, found[uri].size) if found.get(uri) else (None, None))
        yield SourceImage(uri, relative, etag, size,
                          supplier=(row.get("supplier") or "").strip() or None,
                          material=(row.get("material") or "").strip() or None,
                          output_key=(row.get("output_key") or "").strip() or None, **boards[line],
                          map_controls=controls[line])


def _given_version(row: dict) -> tuple[str, int | None] | None:
    """The row's own (etag, size), if it gives an ETag (``size`` already checked to be a number)."""
    etag = (row.get("etag") or "").strip().strip('"')
    if not etag:
        return None
    size = (row.get("size") or "").strip()
    return etag, int(size) if size else None


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "y"), ("0", "false", "no", "n")


def _board_columns(manifest: Path, line: int, row: dict) -> dict[str, Any]:
    """The row's ``tileable``, ``repeat`` and ``width_mm`` (empty cells: not given), checked."""
    where = f"{manifest}:{line}"
    found: dict[str, Any] = {}
    tileable = (row.get("tileable") or "").strip().lower()
    if tileable:
        if tileable not in TRUE_WORDS + FALSE_WORDS:
            raise ManifestError(f"{where}: tileable {row['tileable']!r}: give yes or no (or true/false, 1/0), "
                                "or leave it empty")
        found["tileable"] = tileable in TRUE_WORDS
    repeat = (row.get("repeat") or "").strip()
    if repeat:
        try:
            found["repeat"] = repeat_spelling(repeat)
        except ValueError as exc:
            raise ManifestError(f"{where}: {exc}") from None
    width = (row.get("width_mm") or "").strip()
    if width:
        try:
            value = float(width)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and value > 0):
            raise ManifestError(f"{where}: width_mm {width!r} is not a positive number of millimetres "
                                "(the real width the photo covers)")
        found["width_mm"] = value
    return found


def _map_control_columns(manifest: Path, line: int, row: dict) -> tuple[tuple[str, Any], ...]:
    """The row's map controls (empty cells: not given), checked as a job's would be."""
    where = f"{manifest}:{line}"
    found: dict[str, Any] = {}
    for name in CONTROL_NAMES:
        cell = (row.get(name) or "").strip()
        if not cell:
            continue
        if name == "invert_height":
            if cell.lower() not in TRUE_WORDS + FALSE_WORDS:
                raise ManifestError(f"{where}: invert_height {cell!r}: give yes or no (or true/false, 1/0), "
                                    "or leave it empty")
            found[name] = cell.lower() in TRUE_WORDS
            continue
        try:
            found[name] = int(cell) if name == "normal_bits" else float(cell)
        except ValueError:
            raise ManifestError(f"{where}: {name} {cell!r} is not a number") from None
    try:
        MapControls(**found)
    except BadControl as exc:
        raise ManifestError(f"{where}: {exc}") from None
    return tuple(found.items())


# Looking sources up. A LIST page answers for up to 1000 objects in one request where a HEAD
# answers for one: sources that share a folder are listed, the rest asked for one by one, several
# requests at a time.
LIST_MIN_SOURCES = 10      # sources in one S3 folder from which a listing beats HEADs
LIST_BUDGET = 20           # objects listed per source sought before the rest fall back to HEADs
HEAD_THREADS = 16          # HEAD requests in flight at once
LIST_THREADS = 4           # folder listings in flight at once


def look_up(storage: Storage, uris: list[str]) -> dict[str, ObjectInfo | None]:
    """ETag and size of each source (None: missing or unreadable, the worker will say why)."""
    found: dict[str, ObjectInfo | None] = {}
    folders: dict[tuple[str, str], list[str]] = {}
    for uri in uris:
        if is_s3(uri):
            bucket, key = split_s3(uri)
            folders.setdefault((bucket, posixpath.dirname(key)), []).append(key)
    listable = [(bucket, folder, sorted(set(keys))) for (bucket, folder), keys in folders.items()
                if len(set(keys)) >= LIST_MIN_SOURCES]
    if listable:
        # Folders listed several at a time: a page costs a round trip and the server's time, not ours.
        with ThreadPoolExecutor(min(LIST_THREADS, len(listable)), thread_name_prefix="list") as pool:
            for answered in pool.map(lambda folder: _listed(storage, *folder), listable):
                found.update(answered)
    rest = [u for u in dict.fromkeys(uris) if u not in found]
    if rest:
        with ThreadPoolExecutor(HEAD_THREADS, thread_name_prefix="head") as pool:
            found.update(zip(rest, pool.map(lambda uri: _head(storage, uri), rest)))
    return found


def _head(storage: Storage, uri: str) -> ObjectInfo | None:
    try:
        return storage.head(uri)
    except StorageError:
        return None


def _listed(storage: Storage, bucket: str, folder: str, keys: list[str]) -> dict[str, ObjectInfo | None]:
    """The ``keys`` (sorted, all directly in ``folder``) that one listing of the folder's key range
    answers for: found, or missing when the listing went past them. Keys the listing did not
    reach (its budget spent, or listing refused) are left out, for HEADs."""
    prefix = f"s3://{bucket}/{folder}/" if folder else f"s3://{bucket}/"
    sought, answered, listed = set(keys), {}, 0
    reached = None  # every key sought up to this one is answered
    try:
        # From just before the first key sought (a proper prefix of it sorts before it).
        for info in storage.list(prefix, start_after=keys[0][:-1], recursive=False):
            key = split_s3(info.uri)[1]
            if key > keys[-1]:
                reached = keys[-1]
                break
            reached = key
            if key in sought:
                answered[key] = info
            listed += 1
            if listed >= LIST_BUDGET * len(keys):
                break
        else:
            reached = keys[-1]
    except StorageError:
        return {}
    if reached is None:
        return {}
    return {f"s3://{bucket}/{k}": answered.get(k) for k in keys if k <= reached}
