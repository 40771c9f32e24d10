#!/usr/bin/env bash
# Creates or updates the virtual environment at .venv with everything pyproject.toml lists
# (the project installed editable, with its test extras). Quick when nothing changed: the
# install is skipped while a stamp for the current pyproject.toml exists.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
    # torch first, so that basicsr's setup.py (which imports torch) builds against it.
    .venv/bin/python -m pip install --quiet torch==2.14.1 torchvision==0.29.1
    .venv/bin/python -m pip install --quiet --no-build-isolation basicsr==1.4.2
    .venv/bin/python -m pip install --quiet -e '.[test]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi

# Test data that is fetched, not committed: Ghostscript's default CMYK profile (AGPL, from
# Debian's libgs-common) and the Khronos glTF validator (npm). Both are quick once present.
tests/fetch_icc_profiles.sh || echo "setup.sh: could not fetch the CMYK test profile (the CMYK tests need it)" >&2
if command -v npm >/dev/null 2>&1; then
    .venv/bin/python -m tests.materials_support >/dev/null \
        || echo "setup.sh: could not install gltf-validator (the glTF test needs it)" >&2
fi

# The report test renders HTML in Debian's headless Chromium. Installed when we can (root with
# apt, as on CI); elsewhere, install the `chromium` package yourself to run that test.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
        || echo "setup.sh: could not install chromium (the HTML report test needs it)" >&2
fi

# The container test (deploy/verify.sh) builds the images and runs the compose stack with Debian's
# podman and runc; debootstrap makes the base image (no container registry is used). Installed when
# we can (root with apt, as on CI); elsewhere that test is skipped and says why.
if ! { command -v podman && command -v runc && command -v debootstrap && command -v curl; } >/dev/null 2>&1 \
        && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        podman runc debootstrap curl) >/dev/null \
        || echo "setup.sh: could not install podman (the container test needs it)" >&2
fi
