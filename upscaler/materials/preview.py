"""A self-contained HTML page that shows the material lit: a sphere and a tiled plane, a moving light.

Everything is inside the one file, so it opens offline from disk, from an S3 link or an e-mail:
three.js (``static/three.module.min.js``, MIT, licence in ``static/three.LICENSE``) as a data: URL
behind an import map, and the maps as data: URLs. Browsers refuse to put images read from
file:// pages into WebGL textures (they count as another origin), which is why the maps are not
referenced as files. They are shrunk to ``PREVIEW_SIZE`` so that a 4096 px set makes a page of a
few MB. The page sets ``window.__previewReady = true`` (and ``data-ready`` on <body>) once the
textures are loaded and the first frame is drawn, for tests and screenshot tools.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from importlib import resources

import cv2
import numpy as np

PREVIEW_SIZE = 1024  # longer side, px, of the maps inside the page


def shrink_for_preview(pixels: np.ndarray, size: int = PREVIEW_SIZE) -> np.ndarray:
    """An 8-bit copy no longer than ``size`` px (area-averaged), for the page."""
    if pixels.dtype == np.uint16:
        pixels = ((pixels.astype(np.uint32) + 128) // 257).astype(np.uint8)
    longer = max(pixels.shape[:2])
    if longer > size:
        scale = size / longer
        pixels = cv2.resize(pixels, (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale))),
                            interpolation=cv2.INTER_AREA)
    return pixels


def _png_data_url(pixels: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"could not encode a {pixels.shape} preview map")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode()


def three_js_source() -> str:
    return resources.files("upscaler.materials").joinpath("static/three.module.min.js").read_text("utf-8")


def preview_html(name: str, maps: dict[str, np.ndarray], normal_convention: str = "opengl",
                 tiles: int = 3, note: str = "", size_mm: tuple[float, float] | None = None,
                 warnings: Sequence[str] = ()) -> str:
    """The page, as a string.

    ``maps``: 8-bit (or 16-bit, converted) arrays in OpenCV layout, ideally already shrunk by
    ``shrink_for_preview``: ``basecolor`` (required, BGR or BGRA), ``normal`` (BGR, in
    ``normal_convention``), ``roughness``, ``ao``, ``metallic`` (gray; each optional).
    ``tiles``: how many times the plane repeats the material each way (seams show here); the
    plane has the material's proportions (its real ones when ``size_mm``, the material's real
    (width, height), is given; the page then states the plane's real size, ``tiles`` times it).
    ``warnings``: shown under the title (a PBR check's, for instance).
    """
    if "basecolor" not in maps:
        raise ValueError("the preview needs at least the base colour")
    urls = {key: _png_data_url(shrink_for_preview(value)) for key, value in maps.items()}
    three_url = "data:text/javascript;base64," + base64.b64encode(three_js_source().encode()).decode()
    height, width = maps["basecolor"].shape[:2]
    real = list(size_mm) if size_mm else [width, height]
    config = {"maps": urls, "directx": normal_convention == "directx", "tiles": tiles,
              "alpha": maps["basecolor"].ndim == 3 and maps["basecolor"].shape[2] == 4,
              "aspect": real[0] / real[1]}
    title = html.escape(name)
    listed = ", ".join(k for k in ("basecolor", "normal", "roughness", "ao", "metallic") if k in maps)
    if size_mm:
        note += (f" - {tiles} x {tiles} tiles of {size_mm[0]:g} x {size_mm[1]:g} mm: "
                 f"{tiles * size_mm[0] / 1000:.2f} x {tiles * size_mm[1] / 1000:.2f} m")
    shown = "".join(f'<br><span class="warning">{html.escape(w)}</span>' for w in warnings)
    return _PAGE.format(title=title, importmap=json.dumps({"imports": {"three": three_url}}),
                        config=json.dumps(config), listed=html.escape(listed), note=html.escape(note), warnings=shown)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} - material preview</title>
<style>
html, body {{ margin: 0; height: 100%; background: #1d2126; color: #d8dde3; font: 14px system-ui, sans-serif; overflow: hidden; }}
#view {{ position: fixed; inset: 0; }}
#label {{ position: fixed; left: 12px; top: 10px; text-shadow: 0 1px 2px #000; }}
#label small {{ color: #9aa3ad; }}
#label .warning {{ color: #ffb454; }}
</style>
<script type="importmap">{importmap}</script>
</head><body>
<div id="view"></div>
<div id="label"><b>{title}</b><br><small>{listed}{note}</small>{warnings}</div>
<script type="module">
import * as THREE from "three";
const CONFIG = {config};
const view = document.getElementById("view");
const renderer = new THREE.WebGLRenderer({{ antialias: true, preserveDrawingBuffer: true }});
renderer.setPixelRatio(window.devicePixelRatio || 1);
renderer.setSize(window.innerWidth, window.innerHeight);
renderer.outputColorSpace = THREE.SRGBColorSpace;
view.appendChild(renderer.domElement);

const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1d2126);
const camera = new THREE.PerspectiveCamera(35, window.innerWidth / window.innerHeight, 0.1, 100);
camera.position.set(0, 1.2, 7.5);
camera.lookAt(0, 0, 0);
scene.add(new THREE.HemisphereLight(0xdde6ff, 0x30281e, 0.6));
const light = new THREE.DirectionalLight(0xffffff, 2.6);
scene.add(light);

const loader = new THREE.TextureLoader();
async function texture(key, srgb, repeatX, repeatY) {{
  if (!CONFIG.maps[key]) return null;
  const tex = await loader.loadAsync(CONFIG.maps[key]);
  tex.colorSpace = srgb ? THREE.SRGBColorSpace : THREE.NoColorSpace;
  tex.wrapS = tex.wrapT = THREE.RepeatWrapping;
  tex.repeat.set(repeatX, repeatY);
  tex.anisotropy = renderer.capabilities.getMaxAnisotropy();
  return tex;
}}
async function material(repeatX, repeatY) {{
  const [map, normalMap, roughnessMap, aoMap, metalnessMap] = await Promise.all([
    texture("basecolor", true, repeatX, repeatY), texture("normal", false, repeatX, repeatY),
    texture("roughness", false, repeatX, repeatY), texture("ao", false, repeatX, repeatY),
    texture("metallic", false, repeatX, repeatY)]);
  const m = new THREE.MeshStandardMaterial({{ map, normalMap, roughnessMap, aoMap, metalnessMap,
    roughness: 1, metalness: metalnessMap ? 1 : 0, alphaTest: CONFIG.alpha ? 0.5 : 0 }});
  // three.js reads normal maps +Y up (OpenGL); a DirectX map has green the other way.
  if (normalMap) m.normalScale.set(1, CONFIG.directx ? -1 : 1);
  return m;
}}

const sphere = new THREE.Mesh(new THREE.SphereGeometry(1.1, 128, 64), await material(2, 1));
sphere.position.set(-1.5, 0, 0);
// The plane keeps the material's real aspect (its longer side fits the view).
const planeW = CONFIG.aspect >= 1 ? 2.6 : 2.6 * CONFIG.aspect, planeH = CONFIG.aspect >= 1 ? 2.6 / CONFIG.aspect : 2.6;
const plane = new THREE.Mesh(new THREE.PlaneGeometry(planeW, planeH), await material(CONFIG.tiles, CONFIG.tiles));
plane.position.set(1.5, 0, 0);
plane.rotation.set(-0.55, -0.35, 0);
scene.add(sphere, plane);

window.addEventListener("resize", () => {{
  camera.aspect = window.innerWidth / window.innerHeight;
  camera.updateProjectionMatrix();
  renderer.setSize(window.innerWidth, window.innerHeight);
}});
const start = performance.now();
function frame() {{
  const t = (performance.now() - start) / 1000;
  light.position.set(Math.cos(t * 0.6) * 4, 2.5 + Math.sin(t * 0.4), 3 + Math.sin(t * 0.6) * 2);
  sphere.rotation.y = t * 0.15;
  renderer.render(scene, camera);
}}
light.position.set(-3, 3, 4);
renderer.render(scene, camera);
window.__previewReady = true;
document.body.dataset.ready = "1";
renderer.setAnimationLoop(frame);
</script>
</body></html>
"""
