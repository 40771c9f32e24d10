"""Object names: S3 URIs split, keys joined under a prefix without escaping it, and names compared
the way file systems and sync tools compare them (for output collisions and "inside a source").

An output's key is a pure function of its job (the producer joins the source's relative key, with
the output format's extension, under the output prefix); :func:`safe_join` guarantees that no key
(from a listing, a manifest or an event) can escape that prefix."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from upscaler.storage.errors import StorageError


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise StorageError(f"{uri}: no bucket name")
    return bucket, key


def safe_join(prefix: str, relative: str) -> str:
    """``prefix`` + ``relative``, refusing anything that would land outside ``prefix``."""
    parts = [p for p in relative.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts) or not parts:
        raise StorageError(f"key {relative!r} is empty or leaves its prefix ('..' segments)")
    joined = posixpath.join(prefix.rstrip("/"), *parts) if prefix.rstrip("/") else "/".join(parts)
    return joined


# Extensions that name one format: outputs differing only by these are the same file to a person.
_SAME_EXTENSION = {".jpeg": ".jpg", ".tiff": ".tif"}


def collision_key(uri: str) -> str:
    """``uri`` as file systems and sync tools compare names: case-folded (macOS and Windows
    folders, many sync tools), duplicate slashes as one, ``.jpeg``/``.tiff`` as ``.jpg``/``.tif``.
    Two outputs with the same key would overwrite each other somewhere down the line."""
    scheme, rest = ("s3://", uri[len("s3://"):]) if is_s3(uri) else ("", uri)
    rest = re.sub(r"/{2,}", "/", rest.replace("\\", "/"))
    stem, extension = posixpath.splitext(rest)
    extension = _SAME_EXTENSION.get(extension.lower(), extension)
    return scheme + (stem + extension).casefold()


def is_inside(uri: str, prefix: str) -> bool:
    """Whether ``uri`` is ``prefix`` itself or lies under it (S3 keys or local paths, compared
    the way :func:`collision_key` compares names; local paths resolved, symlinks followed)."""
    if is_s3(uri) != is_s3(prefix):
        return False
    if not is_s3(uri):
        uri, prefix = str(Path(uri).resolve()), str(Path(prefix).resolve())
    inner, outer = collision_key(uri).rstrip("/"), collision_key(prefix).rstrip("/")
    return inner == outer or inner.startswith(outer + "/")
