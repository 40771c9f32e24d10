"""A self-contained HTML page that shows the material lit (a sphere and a tiled plane, a moving
light) above its flat maps (base colour, height, normal, AO, roughness, metallic, each one labelled).

The 3D view fills the window above the strip of flat maps; the sphere and the plane stand side by
side in a wide view and one above the other in a tall one, and the camera stands back just far
enough for both to fit, whatever the aspect of the window and of the material, again on every
resize (``static/preview_framing.js``, which the tests run under node).

Everything is inside the one file, so it opens offline from disk, from an S3 link or an e-mail:
three.js (``static/three.module.min.js``, MIT, licence in ``static/three.LICENSE``) as a data: URL
behind an import map (with the framing module), and the maps as data: URLs, once each (the flat
maps' images take theirs from the same table). Browsers refuse to put images read from
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
# The flat maps shown under the 3D view, in this order, with their captions.
FLAT_MAPS = {"basecolor": "base colour", "height": "height", "normal": "normal", "ao": "ambient occlusion",
             "roughness": "roughness", "metallic": "metallic"}


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
    return _static("three.module.min.js")


def _static(name: str) -> str:
    return resources.files("upscaler.materials").joinpath(f"static/{name}").read_text("utf-8")


def _js_data_url(source: str) -> str:
    return "data:text/javascript;base64," + base64.b64encode(source.encode()).decode()


def preview_html(name: str, maps: dict[str, np.ndarray], normal_convention: str = "opengl",
                 tiles: int = 3, note: str = "", size_mm: tuple[float, float] | None = None,
                 warnings: Sequence[str] = ()) -> str:
    """The page, as a string.

    ``maps``: 8-bit (or 16-bit, converted) arrays in OpenCV layout, ideally already shrunk by
    ``shrink_for_preview``: ``basecolor`` (required, BGR or BGRA), ``normal`` (BGR, in
    ``normal_convention``), ``roughness``, ``ao``, ``metallic``, ``height`` (gray; each optional;
    the height is shown flat only). Each map given is also shown flat, under the 3D view.
    ``tiles``: how many times the plane repeats the material each way (seams show here); the
    plane has the material's proportions (its real ones when ``size_mm``, the material's real
    (width, height), is given; the page then states the plane's real size, ``tiles`` times it).
    ``warnings``: shown under the title (a PBR check's, for instance).
    """
    if "basecolor" not in maps:
        raise ValueError("the preview needs at least the base colour")
    urls = {key: _png_data_url(shrink_for_preview(value)) for key, value in maps.items()}
    imports = {"three": _js_data_url(three_js_source()), "framing": _js_data_url(_static("preview_framing.js"))}
    height, width = maps["basecolor"].shape[:2]
    real = list(size_mm) if size_mm else [width, height]
    config = {"maps": urls, "directx": normal_convention == "directx", "tiles": tiles,
              "alpha": maps["basecolor"].ndim == 3 and maps["basecolor"].shape[2] == 4,
              "aspect": real[0] / real[1]}
    title = html.escape(name)
    listed = ", ".join(k for k in ("basecolor", "normal", "roughness", "ao", "metallic") if k in maps)
    flat = "".join(f'<figure data-map="{key}"><img alt="{caption}"><figcaption>{caption}</figcaption></figure>'
                   for key, caption in FLAT_MAPS.items() if key in maps)
    if size_mm:
        note += (f" - {tiles} x {tiles} tiles of {size_mm[0]:g} x {size_mm[1]:g} mm: "
                 f"{tiles * size_mm[0] / 1000:.2f} x {tiles * size_mm[1] / 1000:.2f} m")
    shown = "".join(f'<br><span class="warning">{html.escape(w)}</span>' for w in warnings)
    return _PAGE.format(title=title, importmap=json.dumps({"imports": imports}), config=json.dumps(config),
                        listed=html.escape(listed), note=html.escape(note), warnings=shown, flat=flat)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - material preview</title>
<style>
html, body {{ margin: 0; height: 100%; background: #1d2126; color: #d8dde3; font: 14px system-ui, sans-serif; overflow: hidden; }}
body {{ display: flex; flex-direction: column; }}
#view {{ flex: 1 1 auto; min-height: 0; position: relative; }}
#view canvas {{ display: block; }}
#label {{ position: fixed; left: 12px; top: 10px; text-shadow: 0 1px 2px #000; }}
#label small {{ color: #9aa3ad; }}
#label .warning {{ color: #ffb454; }}
/* The flat maps: a strip under the view, one square-ish image each, scrolling sideways when the
   window is too narrow for all of them. */
#maps {{ flex: 0 0 auto; height: clamp(84px, 22vh, 200px); display: flex; gap: 6px; padding: 6px;
        overflow-x: auto; overflow-y: hidden; background: #16191d; box-sizing: border-box; }}
#maps figure {{ margin: 0; height: 100%; display: flex; flex-direction: column; align-items: center; flex: 0 0 auto; }}
#maps img {{ flex: 1 1 auto; min-height: 0; max-width: 40vw; object-fit: contain; image-rendering: auto;
            background: repeating-conic-gradient(#2a2f35 0 25%, #22262b 0 50%) 0 0 / 16px 16px; }}
#maps figcaption {{ font-size: 12px; color: #9aa3ad; padding-top: 2px; }}
</style>
<script type="importmap">{importmap}</script>
</head><body>
<div id="view"></div>
<div id="label"><b>{title}</b><br><small>{listed}{note}</small>{warnings}</div>
<div id="maps">{flat}</div>
<script type="module">
import * as THREE from "three";
import {{ SPHERE_RADIUS, frame, planeSize }} from "framing";
const CONFIG = {config};
for (const figure of document.querySelectorAll("#maps figure")) figure.querySelector("img").src = CONFIG.maps[figure.dataset.map];
const view = document.getElementById("view");
const renderer = new THREE.WebGLRenderer({{ antialias: true, preserveDrawingBuffer: true }});
renderer.setPixelRatio(window.devicePixelRatio || 1);
renderer.outputColorSpace = THREE.SRGBColorSpace;
view.appendChild(renderer.domElement);

const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1d2126);
const camera = new THREE.PerspectiveCamera(35, 1, 0.1, 200);
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

const sphere = new THREE.Mesh(new THREE.SphereGeometry(SPHERE_RADIUS, 128, 64), await material(2, 1));
// The plane keeps the material's real aspect (its longer side PLANE_LONG_SIDE).
const plane = new THREE.Mesh(new THREE.PlaneGeometry(...planeSize(CONFIG.aspect)), await material(CONFIG.tiles, CONFIG.tiles));
plane.rotation.set(-0.55, -0.35, 0);
scene.add(sphere, plane);

// The view's size and framing follow the window (the strip of flat maps takes its share first).
function fit() {{
  const width = Math.max(1, view.clientWidth), height = Math.max(1, view.clientHeight);
  renderer.setSize(width, height);
  frame(THREE, camera, sphere, plane, width / height);
}}
window.addEventListener("resize", fit);
fit();
const start = performance.now();
function animate() {{
  const t = (performance.now() - start) / 1000;
  light.position.set(Math.cos(t * 0.6) * 4, 2.5 + Math.sin(t * 0.4), 3 + Math.sin(t * 0.6) * 2);
  sphere.rotation.y = t * 0.15;
  renderer.render(scene, camera);
}}
light.position.set(-3, 3, 4);
renderer.render(scene, camera);
window.__previewReady = true;
document.body.dataset.ready = "1";
renderer.setAnimationLoop(animate);
</script>
</body></html>
"""
