"""One manifest row checked at intake: a bad row is refused with its row number and reason, and
the other rows go on.

Every field is checked before anything reaches the database: lengths the jobs table holds, no
NUL anywhere (PostgreSQL refuses it in text), no control character in the short fields,
a whole number of bytes for ``size``, a source URI a worker can read (``s3://bucket/key`` or a
local path), and a source under one of the allowed source roots (``UPSCALER_SOURCE_ROOTS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from db.jobs import column_limit
from upscaler.errors import ErrorCode
from upscaler.printable import printable
from upscaler.storage import is_inside, is_s3

# The S3 limit on a key is 1024 bytes; a URI or an output key longer than this is no real object.
MAX_KEY_BYTES = 1024
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A key may hold a newline (status and logs escape it), never a NUL.
NUL = "\x00"
KEYS = ("source_uri", "output_key")
# Columns whose text goes to a length-limited column of the jobs table.
LIMITED = {"supplier": "supplier", "material": "material", "etag": "source_etag"}


@dataclass(frozen=True, slots=True)
class RefusedRow:
    """A manifest row refused at intake: no job is made of it."""

    line: int            # the row's line in the CSV file (the header is line 1)
    source_uri: str
    code: ErrorCode      # bad_manifest_row | source_not_allowed
    reason: str

    def to_json(self) -> dict:
        return {"row": self.line, "source_uri": self.source_uri, "code": self.code, "reason": self.reason}

    def __str__(self) -> str:
        return f"row {self.line} ({printable(self.source_uri)[:120]}): [{self.code}] {self.reason}"


def row_problem(row: dict) -> str | None:
    """Why a row's fields cannot make a job; None when they can."""
    for name, value in row.items():
        if name is None:  # csv puts the cells past the header's columns under None
            return f"{len(value)} more cells than the header has columns"
        if value is None:
            continue
        if NUL in value or (name not in KEYS and CONTROL.search(value)):
            return f"{name} contains a control character"
        column = LIMITED.get(name)
        limit = column_limit(column) if column else None
        if limit is not None and len(value.strip()) > limit:
            return f"{name} is {len(value.strip())} characters long, at most {limit}"
    uri = (row.get("source_uri") or "").strip()
    if not uri:
        return "empty source_uri"
    for name in KEYS:
        value = (row.get(name) or "").strip()
        if len(value.encode()) > MAX_KEY_BYTES:
            return f"{name} is {len(value.encode())} bytes long, at most {MAX_KEY_BYTES}"
    if is_s3(uri) and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+", uri):
        return "source_uri is not s3://bucket/key"
    if "://" in uri and not is_s3(uri):
        return "source_uri is neither s3://bucket/key nor a local path"
    size = (row.get("size") or "").strip()
    if size and not (size.isdigit() and size.isascii()):
        return f"size {printable(size)[:40]!r} is not a whole number of bytes"
    return None


def outside_roots(uri: str, roots: list[str]) -> str | None:
    """Why a source is not under an allowed root (None: it is, or no roots are set)."""
    if not roots or any(is_inside(uri, root) for root in roots):
        return None
    return f"not under an allowed source root ({', '.join(roots)}; UPSCALER_SOURCE_ROOTS)"


def check(line: int, row: dict, roots: list[str]) -> RefusedRow | None:
    uri = printable((row.get("source_uri") or "").strip())[:300]
    problem = row_problem(row)
    if problem is not None:
        return RefusedRow(line, uri, ErrorCode.bad_manifest_row, problem)
    outside = outside_roots(uri, roots)
    if outside is not None:
        return RefusedRow(line, uri, ErrorCode.source_not_allowed, outside)
    return None
