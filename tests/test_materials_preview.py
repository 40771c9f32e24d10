"""The preview page in a real headless Chromium: loads offline, no console error, a lit textured sphere."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tests.materials_support import bumps, grout, render, screenshot_page
from upscaler.materials import MapOptions, folder_writer, write_material

BACKGROUND = np.array([0x26, 0x21, 0x1D])   # the page's #1d2126, BGR
SPHERE = np.s_[170:430, 80:330]             # the sphere's box at 800x600 (centre x = 205, radius ~ 135 px)


def test_preview_renders_a_lit_textured_sphere_offline(tmp_path: Path) -> None:
    relief = grout(n=256, spacing=64, width=4, depth=8) + bumps(n=256, count=300, radius=6, depth=4, seed=3)
    folder = tmp_path / "tile"
    result = write_material(render(relief), folder_writer(folder), MapOptions(category="tile", seamless=True),
                            name="test tile", formats=("preview",))
    assert result.files[-1] == "preview.html"
    page = (folder / "preview.html").read_text()
    assert "http://" not in page and "https://" not in page   # nothing to fetch: library and maps are inline
    (folder / "basecolor.png").unlink()   # the page needs none of the files next to it
    shot, ready, errors = screenshot_page((folder / "preview.html").as_uri(), tmp_path / "profile")
    (tmp_path / "shot.png").write_bytes(shot)
    assert errors == [] and ready, errors

    picture = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    assert picture.shape == (600, 800, 3)
    assert np.abs(picture[5:60, 700:795].astype(int) - BACKGROUND).max() <= 2   # the page's background
    sphere = picture[SPHERE].astype(np.float64)
    covered = np.abs(sphere - BACKGROUND).max(axis=2) > 12
    assert covered.mean() > 0.6, covered.mean()     # a disc fills most of its box (measured: 0.83)
    lum = cv2.cvtColor(picture[SPHERE], cv2.COLOR_BGR2GRAY).astype(np.float64)
    smooth = cv2.GaussianBlur(lum, (0, 0), 12)[covered]
    # Lit: a bright side and a dark side (measured: 48 to 168 levels, 5th to 95th percentile);
    # textured: grout and bumps show as detail on top of the shading (measured: std 6.0).
    assert np.percentile(smooth, 95) - np.percentile(smooth, 5) > 40
    detail = (lum - cv2.GaussianBlur(lum, (0, 0), 3))[covered]
    assert detail.std() > 3
