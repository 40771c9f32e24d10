"""One output object per job: outputs that two sources would share are refused, or renamed.

Output keys are compared as :func:`upscaler.storage.collision_key` compares them (case-folded,
one slash, ``.jpeg`` as ``.jpg``), because that is where they clash: a case-insensitive folder
the outputs are synced to, or a tool that treats ``a.PNG`` and ``a.png`` alike. Two new jobs
clash within a submission, or a new job clashes with an existing job of another source.

Policies (``--on-collision``):
- ``fail`` (default): the first source in URI order keeps the key; every later one becomes a
  job failed from the start with ``output_collision``, naming both sources;
- ``suffix``: the later ones are written under ``<name>~<8 hex digits of the source URI's
  SHA-256><extension>``: the same name for the same source, whatever else is submitted with it.
"""

from __future__ import annotations

import hashlib
import posixpath

from db import transitions
from db.jobs import NewJob
from upscaler.errors import ErrorCode
from upscaler.storage import collision_key

POLICIES = ("fail", "suffix")


def suffixed(output_uri: str, source_uri: str) -> str:
    stem, extension = posixpath.splitext(output_uri)
    return f"{stem}~{hashlib.sha256(source_uri.encode()).hexdigest()[:8]}{extension}"


def settle(rows: list[NewJob], taken: dict[str, str], policy: str) -> int:
    """Give each row its ``output_key``; refuse or rename rows whose key another source holds
    (``taken``: key -> source, from SQL; grows as rows claim keys). In place; how many clashed."""
    clashes = 0
    if policy not in POLICIES:
        raise ValueError(f"on_collision {policy!r}: choose {' or '.join(POLICIES)}")
    for row in sorted((r for r in rows if r.output_uri), key=lambda r: r.source_uri):
        key = collision_key(row.output_uri)
        owner = taken.get(key)
        if owner is not None and owner != row.source_uri and not row.refused:
            clashes += 1
            if policy == "suffix":
                row.output_uri = suffixed(row.output_uri, row.source_uri)
                key = collision_key(row.output_uri)
            else:
                transitions.refuse(row, ErrorCode.output_collision,
                                   f"{row.source_uri} and {owner} would both write {row.output_uri}; submit with "
                                   "--on-collision suffix, or give one of them an output_key in a manifest")
        row.output_key = key
        taken.setdefault(key, row.source_uri)
    return clashes
