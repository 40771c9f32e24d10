"""A wheelhouse for image builds that cannot (or should not) download: every distribution that
deploy/Dockerfile.* and the stand-in images pip-install.

  python deploy/verify/wheelhouse.py DEST PYTHON_IMAGE CONTAINERFILE...

What is wanted: the project's dependencies and build requirements (pyproject.toml) and the pinned
or bounded requirements on the containerfiles' `pip install` lines. Two passes:
- this machine's pip fetches them all, taking files already on disk where its configuration
  points at them (find-links, a local index): torch's gigabytes are not downloaded again. Run it
  with the project's virtual environment: basicsr's metadata is built against its torch;
- the images' own Python (PYTHON_IMAGE, run with podman) adds what only its environment needs
  (a dependency behind a marker such as python_full_version < "3.11.3"), taking what DEST holds.
Quick when DEST already holds this set (a stamp names it); a changed set fetches only what is missing.
"""

from __future__ import annotations

import hashlib
import os
import re
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# `name==1.2`, `name>=5`, `name[extra]>=5`: what a containerfile's pip line asks for by version.
PINNED = re.compile(r"(?<![\w.\-/])([A-Za-z][\w.\-]*(?:\[[\w,\-]+\])?(?:==|>=|~=)[\w.*+!\-]+)")


def wanted(containerfiles: list[Path]) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = set(project["project"]["dependencies"]) | set(project["build-system"]["requires"])
    for path in containerfiles:
        for line in path.read_text().splitlines():
            if "pip install" in line:
                specs.update(PINNED.findall(line))
    return sorted(specs)


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def only_as_source(dest: Path) -> set[str]:
    """Projects DEST holds as source archives alone: their metadata needs their build requirements
    installed (basicsr's setup.py imports torch), so the second pass leaves them to the first."""
    wheels = {normalized(p.name.split("-")[0]) for p in dest.glob("*.whl")}
    sources = {normalized(p.name.rsplit("-", 1)[0]) for p in dest.glob("*.tar.gz")}
    return sources - wheels


def host_certificates() -> list[str]:
    """podman arguments that make pip in a container trust what pip here trusts (an intercepting
    proxy's certificate authority, where the network has one)."""
    bundle = os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE") or ssl.get_default_verify_paths().cafile
    if not bundle or not Path(bundle).is_file():
        return []
    return ["-v", f"{Path(bundle).resolve()}:/etc/host-ca.pem:ro", "-e", "PIP_CERT=/etc/host-ca.pem"]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    dest, python_image = Path(argv[0]).resolve(), argv[1]
    specs = wanted([Path(p) for p in argv[2:]])
    stamp = dest / f".complete-{hashlib.sha256(chr(10).join([python_image, *specs]).encode()).hexdigest()[:16]}"
    if stamp.exists():
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    first = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-build-isolation",
                            "--dest", str(dest), *specs])
    if first.returncode:
        print(f"wheelhouse.py: this machine's pip could not download {' '.join(specs)}", file=sys.stderr)
        return first.returncode
    skip = only_as_source(dest)
    rest = [s for s in specs if normalized(re.split(r"[\[<>=~!]", s)[0]) not in skip]
    second = subprocess.run(
        ["podman", "run", "--rm", "--network", "host", "-v", f"{dest}:/wheelhouse", *host_certificates(),
         python_image, "sh", "-c",
         'python3.11 -m venv /tmp/pip && /tmp/pip/bin/pip download --quiet --disable-pip-version-check '
         '--find-links /wheelhouse --dest /wheelhouse "$@"', "download", *rest])
    if second.returncode:
        print(f"wheelhouse.py: pip in {python_image} could not complete the wheelhouse", file=sys.stderr)
        return second.returncode
    for old in dest.glob(".complete-*"):
        old.unlink()
    stamp.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
