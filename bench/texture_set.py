"""The ground-truth texture set: photographs of materials taken from Debian packages.

    .venv/bin/python bench/texture_set.py            # fetch, extract, write the PNGs and the licences
    .venv/bin/python bench/texture_set.py --check    # only verify the manifest's licences
    .venv/bin/python bench/texture_set.py --licences-only   # verify and rewrite TEXTURE_SET_LICENSES.md

Which files, in which category and under which licence is listed in ``bench/texture_set.csv``
(committed); the pictures themselves are not committed. The script downloads only the packages
the manifest names (``apt-get download``, after ``apt-get update`` once; root or not does not
matter), unpacks each with ``dpkg -x`` into ``bench/.cache/pkgs/`` (git-ignored), reads every
image (members of the zip archives some packages ship, a game's .pk3 or a Sweet Home 3D .sh3f,
are read in place), area-downscales it by the manifest's factor, takes the centre square of at
most 512 px, and writes
``bench/.cache/texture_set/<category>/<name>.png``: a folder ``upscaler compare --ground-truth``
and ``bench/texture.py`` read directly, and ``sources.csv`` beside them: each picture's source, the
package and the paragraph of its ``debian/copyright`` that covers it (the same authors), which
``bench/texture.py`` folds its cross-validation by.

Each file's licence is looked up in its package's machine-readable ``debian/copyright`` and
must equal the manifest's; ``bench/TEXTURE_SET_LICENSES.md`` is written from what was found.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import gzip
import io
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

BENCH = Path(__file__).resolve().parent
MANIFEST = BENCH / "texture_set.csv"
LICENSES = BENCH / "TEXTURE_SET_LICENSES.md"
CACHE = BENCH / ".cache"
DEBS, PACKAGES, OUTPUT = CACHE / "debs", CACHE / "pkgs", CACHE / "texture_set"
SOURCES = OUTPUT / "sources.csv"
MAX_SIDE = 512   # px: the truths are centre squares of at most this size
MIN_SIDE = 256   # px: smaller would leave too few frequencies for the spectrum


@dataclass(frozen=True)
class Entry:
    category: str
    name: str
    package: str
    member: str          # path inside the package; "archive!inner" for a zip member
    copyright_path: str  # the path as debian/copyright names it
    downscale: int
    licence: str
    notes: str


def read_manifest(path: Path = MANIFEST) -> list[Entry]:
    lines = [line for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    rows = list(csv.DictReader(lines))
    entries = [Entry(r["category"], r["name"], r["package"], r["member"], r["copyright_path"],
                     int(r["downscale"]), r["licence"], r["notes"]) for r in rows]
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: duplicate names")
    return entries


# -- packages ------------------------------------------------------------------------------------

def deb_file(package: str) -> Path:
    found = sorted(DEBS.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    DEBS.mkdir(parents=True, exist_ok=True)
    print(f"downloading {package} ...", flush=True)
    subprocess.run(["apt-get", "download", package], cwd=DEBS, check=True)
    return sorted(DEBS.glob(f"{package}_*.deb"))[-1]


def unpacked(package: str) -> Path:
    root = PACKAGES / package
    if not (root / "usr").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb_file(package)), str(root)], check=True)
    return root


def deb_version(package: str) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb_file(package)), "Version"], capture_output=True,
                          text=True, check=True).stdout.strip()


def read_member(package: str, member: str) -> bytes:
    root = unpacked(package)
    if "!" in member:
        archive, inner = member.split("!", 1)
        with zipfile.ZipFile(root / archive) as zf:
            return zf.read(inner)
    return (root / member).read_bytes()


# -- licences (Debian's machine-readable copyright format) ----------------------------------------

@dataclass(frozen=True)
class CopyrightBlock:
    patterns: tuple[str, ...]
    copyright: str
    licence: str


def copyright_blocks(package: str) -> list[CopyrightBlock]:
    folder = unpacked(package) / "usr" / "share" / "doc" / package
    path = folder / "copyright"
    raw = path.read_bytes() if path.is_file() else gzip.decompress((folder / "copyright.gz").read_bytes())
    blocks = []
    for paragraph in raw.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, list[str]] = {}
        current = None
        for line in paragraph.splitlines():
            if line[:1] in (" ", "\t") and current:
                fields[current].append(line.strip())
            elif ":" in line:
                current, value = line.split(":", 1)
                fields[current] = [value.strip()] if value.strip() else []
        if "Files" in fields and "License" in fields:
            patterns = tuple(p for part in fields["Files"] for p in part.split())
            blocks.append(CopyrightBlock(patterns, "; ".join(fields.get("Copyright", [])),
                                         fields["License"][0].split()[0]))
    return blocks


def source_of(package: str, blocks: list[CopyrightBlock], block: CopyrightBlock) -> str:
    """A picture's source: its package and the copyright paragraph (1 = the first) covering it."""
    return f"{package} \u00b6{blocks.index(block) + 1}"


def write_sources(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """``name,category,source`` per picture, for bench/texture.py's folds."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "category", "source"])
        writer.writerows(rows)


def read_sources(path: Path = SOURCES) -> dict[str, str]:
    """Picture name -> source, as :func:`write_sources` wrote them."""
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run bench/texture_set.py first")
    with path.open(newline="") as f:
        return {row["name"]: row["source"] for row in csv.DictReader(f)}


def licence_of(blocks: list[CopyrightBlock], path: str) -> CopyrightBlock:
    """The last paragraph whose Files patterns match ``path`` (the format's rule)."""
    matching = [b for b in blocks if any(fnmatch.fnmatchcase(path, p) for p in b.patterns)]
    if not matching:
        raise SystemExit(f"no copyright paragraph covers {path}")
    return matching[-1]


# -- pictures ----------------------------------------------------------------------------------

def to_truth(data: bytes, downscale: int) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB"))
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    if downscale > 1:
        h, w = bgr.shape[:2]
        bgr = cv2.resize(bgr, (w // downscale, h // downscale), interpolation=cv2.INTER_AREA)
    h, w = bgr.shape[:2]
    side = min(MAX_SIDE, h, w) // 8 * 8
    if side < MIN_SIDE:
        raise SystemExit(f"image is only {w}x{h} after downscaling by {downscale}")
    y, x = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(bgr[y : y + side, x : x + side])


def licences_markdown(entries: list[Entry], found: dict[str, CopyrightBlock], versions: dict[str, str],
                      sizes: dict[str, int], blocks: dict[str, list[CopyrightBlock]]) -> str:
    # debian/copyright groups many files under one paragraph with all their authors: each
    # paragraph is listed once and the images point to it.
    groups: list[tuple[str, CopyrightBlock]] = []
    for e in entries:
        if not any(pkg == e.package and block == found[e.name] for pkg, block in groups):
            groups.append((e.package, found[e.name]))
    group_of = {e.name: next(i for i, (pkg, b) in enumerate(groups, 1) if pkg == e.package and b == found[e.name])
                for e in entries}
    lines = ["# Texture set: sources and licences", "",
             "Written by `bench/texture_set.py` from each package's `debian/copyright` (the machine-readable",
             "format: the last `Files:` paragraph that matches a file decides its licence). The pictures are",
             "not in this repository; the script rebuilds them from the packages into `bench/.cache/texture_set/`.",
             "They are used only to measure the upscaler; the licences are recorded so that any crop shown in",
             "the docs (`docs/texture-comparison.png`) carries its attribution.", "",
             "| package | version | .deb size |", "|---|---|---|"]
    lines += [f"| {p} | {versions[p]} | {sizes[p] / 1e6:.0f} MB |" for p in sorted(versions)]
    lines += ["", "| image | category | file in package | licence | authors | notes |", "|---|---|---|---|---|---|"]
    for e in entries:
        lines.append(f"| {e.name} | {e.category} | {e.package}: `{e.member}` | {found[e.name].licence} "
                     f"| group {group_of[e.name]} | {e.notes} |")
    lines += ["", "Authors, as each package's copyright paragraph lists them for all the files it covers. A group",
              "is one source for the cross-validation in `bench/texture.py` (never on both sides of a fold):", ""]
    for i, (package, block) in enumerate(groups, 1):
        lines.append(f"- group {i} (source `{source_of(package, blocks[package], block)}`, {block.licence}): "
                     f"{block.copyright or '-'}")
    lines += ["", "Licence texts: GPL-2 and GPL-2+ — `/usr/share/common-licenses/GPL-2` on Debian;",
              "CC-BY-3.0 and CC-BY-SA-3.0 — quoted in full in the package's copyright file",
              "(`/usr/share/doc/<package>/copyright`); public-domain — as stated there."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify licences only, write nothing")
    parser.add_argument("--licences-only", action="store_true", help="verify and write the licence file only")
    args = parser.parse_args()

    sys.path.insert(0, str(BENCH.parent))
    from upscaler.evaluation.image_metrics import texture_caveats

    entries = read_manifest()
    blocks = {p: copyright_blocks(p) for p in sorted({e.package for e in entries})}
    found, wrong = {}, []
    for e in entries:
        found[e.name] = licence_of(blocks[e.package], e.copyright_path)
        if found[e.name].licence != e.licence:
            wrong.append(f"{e.name}: manifest says {e.licence}, {e.package}'s copyright says {found[e.name].licence}")
    if wrong:
        raise SystemExit("licence mismatch:\n  " + "\n  ".join(wrong))
    if args.check:
        print(f"{len(entries)} entries, licences match the packages")
        return
    for e in ([] if args.licences_only else entries):
        truth = to_truth(read_member(e.package, e.member), e.downscale)
        target = OUTPUT / e.category / f"{e.name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), truth)
        flags = texture_caveats(truth).reasons()
        print(f"{e.category:<10} {e.name:<22} {truth.shape[1]}x{truth.shape[0]} {e.licence:<12} {' '.join(flags)}")
    if not args.licences_only:
        write_sources(SOURCES, [(e.name, e.category, source_of(e.package, blocks[e.package], found[e.name]))
                                for e in entries])
    versions = {p: deb_version(p) for p in blocks}
    sizes = {p: deb_file(p).stat().st_size for p in blocks}
    LICENSES.write_text(licences_markdown(entries, found, versions, sizes, blocks))
    counts = {c: sum(e.category == c for e in entries) for c in sorted({e.category for e in entries})}
    print(f"{len(entries)} entries ({', '.join(f'{c} {n}' for c, n in counts.items())}); licences in {LICENSES}")


if __name__ == "__main__":
    main()
