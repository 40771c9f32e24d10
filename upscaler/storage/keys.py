"""Object names: S3 URIs split, keys joined under a prefix without escaping it, and names compared
the way file systems and sync tools compare them (for output collisions and "inside a source").

An output's key is a pure function of its job (the producer joins the source's relative key, with
the output format's extension, under the output prefix); :func:`safe_join` guarantees that no key
(from a listing, a manifest or an event) can escape that prefix."""

from __future__ import annotations

import os
import posixpath
import re
import unicodedata
from collections.abc import Iterable
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
    """``uri`` as file systems and sync tools compare names: Unicode NFC (macOS file systems
    store ``café`` composed or decomposed as one name), case-folded (macOS and Windows folders,
    many sync tools), duplicate slashes as one, ``.jpeg``/``.tiff`` as ``.jpg``/``.tif``.
    Two outputs with the same key would overwrite each other somewhere down the line."""
    scheme, rest = ("s3://", uri[len("s3://"):]) if is_s3(uri) else ("", uri)
    rest = re.sub(r"/{2,}", "/", rest.replace("\\", "/"))
    stem, extension = posixpath.splitext(rest)
    extension = _SAME_EXTENSION.get(extension.lower(), extension)
    # Case folding can decompose (and NFC can change what folds): normalise after it as well.
    return scheme + unicodedata.normalize("NFC", unicodedata.normalize("NFC", stem + extension).casefold())


def set_folder(output_uri: str) -> str:
    """Where an output's material set goes: beside it, in a folder named after it
    (``slate.png`` -> ``slate/``)."""
    return posixpath.splitext(output_uri)[0] + "/"


def folder_key(folder_uri: str) -> str:
    """The collision key of a folder (a material set's): ends with one ``/``; everything whose
    key starts with it lies inside."""
    return collision_key(folder_uri.rstrip("/")) + "/"


def ancestor_folders(key: str) -> list[str]:
    """The folder keys that hold ``key`` (a collision key), outermost first, never the bucket or
    root itself: ``s3://b/o/oak/x.png`` -> ``s3://b/o/``, ``s3://b/o/oak/``."""
    scheme, rest = ("s3://", key[len("s3://"):]) if key.startswith("s3://") else ("", key)
    parts = rest.rstrip("/").split("/")[:-1]
    start = 2 if scheme else 1  # a bucket (or the root folder) is never a claimed folder
    return [scheme + "/".join(parts[:i]) + "/" for i in range(start, len(parts) + 1)]


def claims_overlap(first: Iterable[str], second: Iterable[str]) -> bool:
    """Whether two jobs' claims (collision keys of the objects they write; folder keys end with
    ``/`` and claim everything inside them) share an object."""
    second = list(second)
    for a in first:
        for b in second:
            if a == b or (a.endswith("/") and b.startswith(a)) or (b.endswith("/") and a.startswith(b)):
                return True
    return False


def is_inside(uri: str, prefix: str, resolve: bool = True) -> bool:
    """Whether ``uri`` is ``prefix`` itself or lies under it (S3 keys or local paths, compared
    the way :func:`collision_key` compares names; local paths resolved, symlinks followed,
    unless ``resolve`` is false)."""
    if is_s3(uri) != is_s3(prefix):
        return False
    if not is_s3(uri) and resolve:
        uri, prefix = str(Path(uri).resolve()), str(Path(prefix).resolve())
    inner, outer = collision_key(uri).rstrip("/"), collision_key(prefix).rstrip("/")
    return inner == outer or inner.startswith(outer + "/")


def real_local_path(path: str | os.PathLike) -> str:
    """Where a local file is really written: its folder resolved (every symlink on the way
    followed, as the kernel will when the file is opened), and a symlink in its own place too."""
    return os.path.realpath(os.path.abspath(path))
