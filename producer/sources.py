"""What a submission points at, expanded into individual source images.

A SOURCE is an S3 prefix (``s3://bucket/catalogue-2026/``), a local folder, or a CSV manifest
with at least a ``source_uri`` column (optional: ``output_key``, ``supplier``, ``material``).
Only image files are kept (by extension); everything else is counted as skipped.
"""

from __future__ import annotations

import csv
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from upscaler.errors import PermanentError
from upscaler.image_suffixes import INPUT_SUFFIXES
from upscaler.storage import ObjectInfo, Storage, StorageError, is_inside, is_s3


class ManifestError(PermanentError):
    code = "bad_manifest"


class InPlaceOutputError(PermanentError):
    """Outputs would land on or among their own sources."""

    code = "output_inside_source"


def refuse_output_inside_sources(output: str, sources: list[str]) -> None:
    """An output prefix equal to or inside a source prefix would overwrite the originals, and
    every later listing would find the outputs and upscale them again: refused, naming both."""
    for source in sources:
        if is_inside(output, source):
            raise InPlaceOutputError(f"output {output} is inside the source {source}: its results would replace "
                                     "the originals and be upscaled again by the next scan; choose an output "
                                     "prefix outside every source")


@dataclass(frozen=True)
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
    """Rows of a CSV manifest; each source is looked up (HEAD) for its ETag and size."""
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest: {exc}") from exc
    if rows and "source_uri" not in rows[0]:
        raise ManifestError(f"{manifest}: no 'source_uri' column (columns: {', '.join(rows[0])})")
    for line, row in enumerate(rows, start=2):
        uri = (row.get("source_uri") or "").strip()
        if not uri:
            raise ManifestError(f"{manifest}:{line}: empty source_uri")
        if not is_image_name(uri):
            yield uri
            continue
        relative = posixpath.basename(uri) if is_s3(uri) else Path(uri).name
        try:
            info = storage.head(uri)
            etag, size = info.etag, info.size
        except StorageError:
            # Missing, forbidden, no such bucket: the row becomes a job that fails with that
            # reason when a worker tries it, instead of stopping the whole submission here.
            etag, size = None, None
        yield SourceImage(uri, relative, etag, size,
                          supplier=(row.get("supplier") or None), material=(row.get("material") or None),
                          output_key=(row.get("output_key") or "").strip() or None)
