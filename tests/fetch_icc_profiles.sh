#!/usr/bin/env bash
# Puts the test ICC profiles that cannot be shipped in the repository into tests/.icc/ (ignored):
# Ghostscript's default CMYK profile, "Artifex CMYK SWOP Profile" (AGPL-3.0-or-later, as all of
# Ghostscript; 187 KB), from Debian's libgs-common. The same file is the decoder's default CMYK
# profile when libgs-common is installed (see upscaler/imageio/color/management.py).
# Quick when done: skipped while the profile is there. Needs apt-get (Debian), no root.
set -euo pipefail
cd "$(dirname "$0")"
target=.icc/default_cmyk.icc
[ -s "$target" ] && exit 0
if [ -s /usr/share/color/icc/ghostscript/default_cmyk.icc ]; then
    mkdir -p .icc && cp /usr/share/color/icc/ghostscript/default_cmyk.icc "$target"
    exit 0
fi
work=$(mktemp -d)
chmod 755 "$work"  # apt-get download runs as _apt, which must be able to write here
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download libgs-common >/dev/null)
dpkg -x "$work"/libgs-common_*.deb "$work/x"
mkdir -p .icc
cp "$work/x/usr/share/color/icc/ghostscript/default_cmyk.icc" "$target"
cp "$work/x/usr/share/doc/libgs-common/copyright" .icc/libgs-common-copyright
