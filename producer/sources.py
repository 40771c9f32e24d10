"""What a submission points at, expanded into individual source images.

A SOURCE is an S3 prefix (``s3://bucket/catalogue-2026/``), a local folder, or a CSV manifest
with at least a ``source_uri`` column (optional: ``output_key``, ``supplier``, ``material``,
``etag`` and ``size``).
Only image files are kept (by extension); everything else is counted as skipped.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from upscaler.errors import ErrorCode, PermanentError
from upscaler.image_suffixes import INPUT_SUFFIXES
from upscaler.storage import ObjectInfo, Storage, StorageError, is_inside, is_s3, split_s3


class ManifestError(PermanentError):
    code = ErrorCode.bad_manifest


class InPlaceOutputError(PermanentError):
    """Outputs would land on or among their own sources."""

    code = ErrorCode.output_inside_source


def refuse_output_inside_sources(output: str, sources: list[str]) -> None:
    """An output prefix equal to or inside a source prefix would overwrite the originals, and
    every later listing would find the outputs and upscale them again: refused, naming both."""
    for source in sources:
        if is_inside(output, source):
            raise InPlaceOutputError(f"output {output} is inside the source {source}: its results would replace "
                                     "the originals and be upscaled again by the next scan; choose an output "
                                     "prefix outside every source")


@dataclass(frozen=True, slots=True)
class SourceImage:
    uri: str
    relative_key: str          # path under the output prefix, before the extension change
    etag: str | None
    size: int | None
    supplier: str | None = None
    material: str | None = None
    output_key: str | None = None  # from a manifest: an explicit relative output key


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


def from_manifest(storage: Storage, manifest: Path) -> Iterator[SourceImage | str]:
    """Rows of a CSV manifest, in order, each source with its ETag and size: from the row's own
    ``etag`` (and ``size``) columns when it has them (trusted as given), else looked up
    (:func:`look_up`)."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest: {exc}") from exc
    if rows and "source_uri" not in rows[0]:
        raise ManifestError(f"{manifest}: no 'source_uri' column (columns: {', '.join(rows[0])})")
    uris = []
    for line, row in enumerate(rows, start=2):
        uri = (row.get("source_uri") or "").strip()
        if not uri:
            raise ManifestError(f"{manifest}:{line}: empty source_uri")
        uris.append(uri)
    given = {uri: _given_version(manifest, line, row) for line, (uri, row) in enumerate(zip(uris, rows), start=2)}
    found = look_up(storage, [u for u in uris if is_image_name(u) and given[u] is None])
    for uri, row in zip(uris, rows):
        if not is_image_name(uri):
            yield uri
            continue
        relative = posixpath.basename(uri) if is_s3(uri) else Path(uri).name
        # Missing, forbidden, no such bucket: the row becomes a job that fails with that reason
        # when a worker tries it, instead of stopping the whole submission here.
        etag, size = given[uri] or ((found[uri].etag, found[uri].size) if found.get(uri) else (None, None))
        yield SourceImage(uri, relative, etag, size,
                          supplier=(row.get("supplier") or None), material=(row.get("material") or None),
                          output_key=(row.get("output_key") or "").strip() or None)


def _given_version(manifest: Path, line: int, row: dict) -> tuple[str, int | None] | None:
    """The row's own (etag, size), if it gives an ETag."""
    etag = (row.get("etag") or "").strip().strip('"')
    if not etag:
        return None
    size = (row.get("size") or "").strip()
    try:
        return etag, int(size) if size else None
    except ValueError:
        raise ManifestError(f"{manifest}:{line}: size {size!r} is not a whole number of bytes") from None


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
