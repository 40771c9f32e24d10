"""One output object per job: outputs that two sources would share are refused, or renamed.

Output keys are compared as :func:`upscaler.storage.collision_key` compares them (Unicode NFC,
case-folded, one slash, ``.jpeg`` as ``.jpg``), because that is where they clash: a
case-insensitive folder the outputs are synced to, a macOS file system that stores ``café``
composed or decomposed as one name, or a tool that treats ``a.PNG`` and ``a.png`` alike. Every
object a job writes counts: its image, and for a job that makes a material set, the set's folder
and everything in it (``slate.png`` and ``slate.jpg`` would share ``slate/``; ``oak.png``'s set
holds ``oak/basecolor.png``). Two new jobs clash within a submission, or a new job clashes with
an existing live job of another source.

Policies (``--on-collision``):
- ``fail`` (default): the first source in URI order keeps the key; every later one becomes a
  job failed from the start with ``output_collision``, naming both sources;
- ``suffix``: the later ones are written under ``<name>~<8 hex digits of the source URI's
  SHA-256><extension>``: the same name for the same source, whatever else is submitted with it.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections import defaultdict

from db import transitions
from db.jobs import NewJob
from upscaler.errors import ErrorCode
from upscaler.storage import ancestor_folders, collision_key, folder_key, set_folder

POLICIES = ("fail", "suffix")


def suffixed(output_uri: str, source_uri: str) -> str:
    stem, extension = posixpath.splitext(output_uri)
    return f"{stem}~{hashlib.sha256(source_uri.encode()).hexdigest()[:8]}{extension}"


class Claims:
    """The objects jobs write, by source: image keys, and material set folders (each claims
    everything inside it). A new job's image or folder meets a claim when they are one key, or
    one lies inside the other's folder (``oak.png``'s set holds ``oak/basecolor.png``)."""

    def __init__(self) -> None:
        self.images: dict[str, str] = {}
        self.folders: dict[str, str] = {}
        self.inside: dict[str, set[str]] = defaultdict(set)  # folder -> sources with a claim inside it

    def add(self, image: str | None, folder: str | None, source: str) -> None:
        for key, claimed in ((image, self.images), (folder, self.folders)):
            if key:
                claimed.setdefault(key, source)
                for outer in ancestor_folders(key):
                    self.inside[outer].add(source)

    def owner(self, image: str | None, folder: str | None, source: str) -> str | None:
        """Another source whose objects meet these, if any."""
        candidates = [self.images.get(image or "")]
        for key in (image, folder):
            if key:
                candidates += [self.folders.get(outer) for outer in ancestor_folders(key)]
        if folder:
            candidates += [self.folders.get(folder), *sorted(self.inside.get(folder, ()))]
        return next((c for c in candidates if c is not None and c != source), None)


def settle(rows: list[NewJob], taken: Claims, policy: str) -> int:
    """Give each row its ``output_key`` (and ``output_set_key``, for a row that makes a material
    set); refuse or rename rows whose objects another source's job writes (``taken``: from SQL;
    grows as rows claim keys). In place; how many clashed."""
    clashes = 0
    if policy not in POLICIES:
        raise ValueError(f"on_collision {policy!r}: choose {' or '.join(POLICIES)}")
    for row in sorted((r for r in rows if r.output_uri), key=lambda r: r.source_uri):
        makes_set = row.output_set_key is not None
        key, folder = collision_key(row.output_uri), folder_key(set_folder(row.output_uri)) if makes_set else None
        owner = taken.owner(key, folder, row.source_uri)
        if owner is not None and not row.refused:
            clashes += 1
            if policy == "suffix":
                row.output_uri = suffixed(row.output_uri, row.source_uri)
                key = collision_key(row.output_uri)
                folder = folder_key(set_folder(row.output_uri)) if makes_set else None
            else:
                what = "its material set" if folder else "one output"
                transitions.refuse(row, ErrorCode.output_collision,
                                   f"{row.source_uri} and {owner} would both write {row.output_uri} or "
                                   f"{what}; submit with --on-collision suffix, or give one of them an "
                                   "output_key in a manifest")
        row.output_key, row.output_set_key = key, folder
        if not row.refused:
            taken.add(key, folder, row.source_uri)
    return clashes
