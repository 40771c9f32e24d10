"""The preview page's flat maps and framing: each map shown flat and named, and the sphere and the
tiled plane inside the view whatever the aspect of the window and of the material (the framing
module run under node with the bundled three.js; the page itself in headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np

from tests.cli_process import run_cli
from tests.materials_support import bumps, grout, render, screenshot_page
from upscaler.materials import MapOptions, folder_writer, write_material
from upscaler.materials.preview import FLAT_MAPS

STATIC = Path(__file__).resolve().parents[1] / "upscaler" / "materials" / "static"
BACKGROUND = np.array([0x26, 0x21, 0x1D])   # the page's #1d2126, BGR

CHECK = """
const [three, framing] = process.argv.slice(2);
const THREE = await import(three);
const { frame, planeSize, SPHERE_RADIUS } = await import(framing);
const results = [];
for (const viewAspect of [0.25, 0.5, 0.8, 1, 1.33, 1.78, 2.5, 4]) for (const materialAspect of [0.2, 0.5, 1, 2, 5]) {
  const camera = new THREE.PerspectiveCamera(35, 1, 0.1, 200);
  const sphere = new THREE.Mesh(new THREE.SphereGeometry(SPHERE_RADIUS, 32, 16));
  const plane = new THREE.Mesh(new THREE.PlaneGeometry(...planeSize(materialAspect)));
  plane.rotation.set(-0.55, -0.35, 0);
  frame(THREE, camera, sphere, plane, viewAspect);
  let reach = 0, inside = true;
  for (const mesh of [sphere, plane]) {
    const pos = mesh.geometry.attributes.position;
    for (let i = 0; i < pos.count; i++) {
      const p = new THREE.Vector3().fromBufferAttribute(pos, i).applyMatrix4(mesh.matrixWorld).project(camera);
      reach = Math.max(reach, Math.abs(p.x), Math.abs(p.y));
      if (Math.abs(p.x) > 1 || Math.abs(p.y) > 1 || p.z < -1 || p.z > 1) inside = false;
    }
  }
  const { width, height } = plane.geometry.parameters;
  results.push({ viewAspect, materialAspect, inside, reach, planeAspect: width / height });
}
console.log(JSON.stringify(results));
"""


def set_of(tmp_path: Path, category: str = "tile", width: int = 256) -> Path:
    relief = grout(n=256, spacing=64, width=4, depth=8) + bumps(n=256, count=300, radius=6, depth=4, seed=3)
    folder = tmp_path / category
    write_material(render(relief)[:, :width], folder_writer(folder), MapOptions(category=category), name="swatch")
    return folder


def test_the_framing_fits_both_objects_for_any_window_and_material(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed (Debian's nodejs package; ./setup.sh installs it)"
    script = tmp_path / "check.mjs"
    script.write_text(CHECK)
    run = subprocess.run([node, str(script), str(STATIC / "three.module.min.js"), str(STATIC / "preview_framing.js")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    for case in json.loads(run.stdout):
        assert case["inside"], case                 # every vertex of the sphere and the plane in view
        assert case["reach"] > 0.6, case            # and they fill it, not lost in the middle
        assert abs(case["planeAspect"] - case["materialAspect"]) < 1e-9, case


def test_the_page_shows_each_map_flat_and_names_it(tmp_path: Path) -> None:
    page = (set_of(tmp_path, "metal") / "preview.html").read_text()
    shown = re.findall(r'<figure data-map="(\w+)"><img alt="[^"]*"><figcaption>([^<]*)</figcaption>', page)
    assert shown == [(key, FLAT_MAPS[key]) for key in ("basecolor", "height", "normal", "ao", "roughness", "metallic")]
    config = json.loads(re.search(r"const CONFIG = (\{.*\});", page).group(1))
    assert set(config["maps"]) == {"basecolor", "height", "normal", "ao", "roughness", "metallic"}
    for url in config["maps"].values():
        assert page.count(url) == 1   # each map inlined once: the flat images take theirs from CONFIG
    assert '"framing": "data:text/javascript;base64,' in page
    assert 'window.addEventListener("resize", fit)' in page


def test_material_preview_writes_the_flat_maps_its_help_promises(tmp_path: Path) -> None:
    folder = set_of(tmp_path)
    (folder / "preview.html").unlink()
    result = run_cli(["material", "preview", str(folder)], tmp_path / "data")
    assert result.returncode == 0, result.stderr
    page = (folder / "preview.html").read_text()
    assert all(f'data-map="{key}"' in page for key in ("basecolor", "height", "normal", "ao", "roughness"))
    help_text = run_cli(["material", "preview", "--help"], tmp_path / "data", columns=200).stdout
    assert "flat maps" in help_text


def test_a_tall_window_stacks_the_sphere_over_the_plane_inside_the_view(tmp_path: Path) -> None:
    folder = set_of(tmp_path, width=96)   # a tall material in a tall window
    shot, ready, errors = screenshot_page((folder / "preview.html").as_uri(), tmp_path / "profile", width=400,
                                          height=800)
    assert errors == [] and ready, errors
    picture = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    strip = int(np.clip(0.22 * 800, 84, 200))
    view = picture[: 800 - strip]
    covered = np.abs(view.astype(int) - BACKGROUND).max(axis=2) > 12
    covered[:45, :250] = False   # the title
    rows = np.flatnonzero(covered.any(axis=1))
    columns = np.flatnonzero(covered.any(axis=0))
    # Nothing touches the view's edges (nothing cut), and the pair spans most of its height.
    assert rows.min() > 3 and rows.max() < view.shape[0] - 3 and columns.min() > 3 and columns.max() < 396
    assert rows.max() - rows.min() > 0.6 * view.shape[0]
    # Stacked: a gap of background rows between the sphere (above) and the plane (below).
    filled = covered.any(axis=1)[rows.min(): rows.max()]
    assert not filled.all()
    # The flat maps under the view: not the background.
    assert np.abs(picture[800 - strip + 10: 800 - 20, 20:100].astype(int) - BACKGROUND).max() > 12
