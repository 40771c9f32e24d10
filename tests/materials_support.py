"""Known truth for the material-map tests: synthetic relief, rendered as a photo of it would look.

Height fields are in pixels of relief and tile exactly (periodic in both directions). A render
is Lambertian shading of the true normals under a known light: a sky dome, of which each pixel
sees the part above its horizon (traced on the true height), plus a sun from a known direction.
That is how a material swatch is photographed (daylight or a soft box plus a key light), and
why a cavity comes out dark.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
NODE_DIR = REPO / "bench" / ".cache" / "node"   # git-ignored; filled by install_node_tools()
GLTF_VALIDATOR = "gltf-validator@2.0.0-dev.3.10"


# -- synthetic relief (pixels of height) ----------------------------------------------------------

def periodic_distance(coords: np.ndarray, centre: float, period: int) -> np.ndarray:
    d = np.abs(coords - centre) % period
    return np.minimum(d, period - d)


def bumps(n: int = 128, count: int = 48, radius: float = 6.0, depth: float = 6.0, seed: int = 0) -> np.ndarray:
    """Dense random rounded bumps (pebbles, stucco) that wrap around."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    height = np.zeros((n, n))
    for cy, cx, r in zip(rng.uniform(0, n, count), rng.uniform(0, n, count), rng.uniform(0.7, 1.3, count) * radius):
        d2 = periodic_distance(yy, cy, n) ** 2 + periodic_distance(xx, cx, n) ** 2
        height = np.maximum(height, np.sqrt(np.maximum(r * r - d2, 0)) / r)
    return _wrap_blur(height, 1.5) * depth


def grout(n: int = 128, spacing: int = 32, width: float = 2.5, depth: float = 4.0) -> np.ndarray:
    """Square tiles with rounded grout grooves between them (a tile floor)."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    d = np.minimum(periodic_distance(xx, spacing / 2 - 0.5, spacing), periodic_distance(yy, spacing / 2 - 0.5, spacing))
    return depth * (1 - np.exp(-(d / width) ** 2 / 2))


def weave(n: int = 128, pitch: int = 8, depth: float = 3.0) -> np.ndarray:
    """Plain weave: round threads along both axes, over and under in a checkerboard."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64)
    across = np.cos(np.pi * ((yy + 0.5) % pitch - pitch / 2) / pitch) ** 0.5   # thread profile, weft
    along = np.cos(np.pi * ((xx + 0.5) % pitch - pitch / 2) / pitch) ** 0.5    # warp
    over = ((np.floor(xx / pitch) + np.floor(yy / pitch)) % 2).astype(bool)
    # The thread on top rises over the crossing, the other dips: a sinusoid along each thread.
    lift_x = np.sin(np.pi * (xx + 0.5) / pitch) * np.where(np.floor(yy / pitch) % 2 == 0, 1, -1)
    weft = across * (0.6 + 0.4 * lift_x)
    warp = along * (0.6 - 0.4 * np.sin(np.pi * (yy + 0.5) / pitch) * np.where(np.floor(xx / pitch) % 2 == 0, 1, -1))
    height = np.where(over, np.maximum(weft, warp * 0.9), np.maximum(warp, weft * 0.9))
    return _wrap_blur(height, 0.8) * depth


def _wrap_blur(field: np.ndarray, sigma: float) -> np.ndarray:
    pad = int(3 * sigma) + 2
    padded = cv2.copyMakeBorder(field, pad, pad, pad, pad, cv2.BORDER_WRAP)
    return cv2.GaussianBlur(padded, (0, 0), sigma)[pad:-pad, pad:-pad]


# -- truth derived from the relief ----------------------------------------------------------------

def true_normals(height_px: np.ndarray) -> np.ndarray:
    """Unit normals (x right, y up the image, z out), HxWx3, by centred periodic differences."""
    dx = (np.roll(height_px, -1, 1) - np.roll(height_px, 1, 1)) / 2
    drow = (np.roll(height_px, -1, 0) - np.roll(height_px, 1, 0)) / 2
    n = np.dstack([-dx, drow, np.ones_like(dx)])
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def decode_normals(normal_map: np.ndarray) -> np.ndarray:
    """An OpenGL normal map (BGR uint8/16) as unit vectors (x, y, z)."""
    maxval = float(np.iinfo(normal_map.dtype).max)
    n = normal_map[:, :, ::-1].astype(np.float64) / maxval * 2 - 1
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def mean_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip((a * b).sum(axis=2), -1, 1))).mean())


def sky_visibility(height_px: np.ndarray, reach: int = 24, directions: int = 16) -> np.ndarray:
    """Cosine-weighted share of the sky each pixel sees: mean over directions of cos^2 of the
    horizon's elevation, traced on the (periodic) height up to ``reach`` px."""
    visible = np.zeros_like(height_px)
    for k in range(directions):
        angle = 2 * math.pi * k / directions
        horizon = np.zeros_like(height_px)
        for step in range(1, reach + 1):
            dy, dx = round(step * math.sin(angle)), round(step * math.cos(angle))
            rise = (np.roll(height_px, (-dy, -dx), (0, 1)) - height_px) / math.hypot(dy, dx)
            horizon = np.maximum(horizon, rise)
        visible += 1 / (1 + horizon ** 2)
    return visible / directions


SUN = np.array([-0.35, 0.35, 0.87])  # from the upper left, 30 degrees off the vertical (x, y up, z)


def render(height_px: np.ndarray, seed: int = 0, sky: float = 0.7, sun: float = 0.3, cavity_albedo: float = 0.45,
           color: tuple[float, float, float] = (0.45, 0.55, 0.7)) -> np.ndarray:
    """The relief photographed, sRGB-encoded BGR uint8: albedo x (sky x visibility + sun x n.l).

    The albedo is ``colour`` (linear BGR) with 3% grain, darker towards the bottom of the relief
    by up to ``cavity_albedo`` (grout, dirt in pores, the shadowed fibres between threads): the
    "darker is deeper" that every height-from-photo method relies on. Shading then adds what it
    does to a real photo: dark crevices (sky visibility) and the sun's lit and unlit flanks.
    """
    rng = np.random.default_rng(seed)
    n = true_normals(height_px)
    sun_dir = SUN / np.linalg.norm(SUN)
    irradiance = sky * sky_visibility(height_px) + sun * np.maximum(n @ sun_dir, 0) / sun_dir[2]
    depth = (height_px.max() - height_px) / max(float(np.ptp(height_px)), 1e-9)
    albedo = (1 - cavity_albedo * depth) * (1 + 0.03 * rng.standard_normal(height_px.shape))
    linear = np.clip(np.asarray(color) * (albedo * irradiance)[:, :, None], 0, 1)
    srgb = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(srgb * 255).astype(np.uint8)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel().astype(np.float64), b.ravel().astype(np.float64))[0, 1])


# -- node tools (gltf-validator) ------------------------------------------------------------------

def install_node_tools(folder: Path = NODE_DIR) -> Path:
    """npm-install the glTF validator into ``folder`` (git-ignored) unless it is there; its module path.

    CI runs this from a fresh clone: ``.venv/bin/python -m tests.materials_support``.
    """
    module = folder / "node_modules" / "gltf-validator"
    if not (module / "package.json").is_file():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed to install gltf-validator (Debian: apt-get install npm)")
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(folder), GLTF_VALIDATOR],
                       check=True, capture_output=True, text=True, timeout=300)
    return module


# -- headless Chromium, driven over the DevTools protocol --------------------------------------------

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  # WebGL without a GPU: ANGLE on SwiftShader, which headless allows only when asked.
                  "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--hide-scrollbars"]


class DevTools:
    """A Chromium started with ``--remote-debugging-pipe``: JSON messages ending in NUL on fds 3/4.

    No WebSocket library and no port: the browser reads commands on its fd 3 and answers on fd 4.
    """

    def __init__(self, profile: Path, chromium: str | None = None) -> None:
        import os

        chromium = chromium or shutil.which("chromium") or "/usr/bin/chromium"
        if not Path(chromium).exists():
            raise FileNotFoundError("Debian's chromium package is needed (./setup.sh installs it when run as root)")
        profile.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads stderr while the page runs, and a full pipe would stall Chromium.
        self.log = profile / "chromium-stderr.log"
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:
            import fcntl

            # Copies above 10 first: either pipe end may itself be fd 3 or 4.
            read_end, write_end = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_browser_r, from_browser_w))
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        with self.log.open("wb") as log:
            self.process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                             "--remote-debugging-pipe", "about:blank"],
                                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=log, preexec_fn=wire_fds, pass_fds=(3, 4))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        import json
        import os
        import select
        import time

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe: " + self.log.read_text(errors="replace")[-2000:])
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30) -> dict:
        import json
        import os
        import time

        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def close(self) -> None:
        import os

        try:
            self.send("Browser.close", timeout=5)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)


def console_errors(events: list[dict]) -> list[str]:
    """Errors the page reported: uncaught exceptions, console.error, and error log entries."""
    errors = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
        elif event.get("method") == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
        elif event.get("method") == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return errors


def screenshot_page(url: str, profile: Path, width: int = 800, height: int = 600, ready: str = "window.__previewReady === true",
                    settle_s: float = 1.0, timeout: float = 90) -> tuple[bytes, bool, list[str]]:
    """Open ``url`` in headless Chromium at ``width`` x ``height``, wait until ``ready`` is true
    (then ``settle_s`` more), and return (PNG screenshot, whether it became ready, console errors)."""
    import base64
    import time

    browser = DevTools(profile)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            browser.send(domain, session=session)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        browser.send("Page.navigate", {"url": url}, session)
        deadline, became_ready = time.monotonic() + timeout, False
        while time.monotonic() < deadline:
            answer = browser.send("Runtime.evaluate", {"expression": ready, "returnByValue": True}, session)
            if answer.get("result", {}).get("value") is True:
                became_ready = True
                break
            if console_errors(browser.events):
                break
            time.sleep(0.25)
        if became_ready:
            time.sleep(settle_s)
        shot = browser.send("Page.captureScreenshot", {"format": "png"}, session, timeout=60)
        return base64.b64decode(shot["data"]), became_ready, console_errors(browser.events)
    finally:
        browser.close()


if __name__ == "__main__":
    print(install_node_tools(Path(sys.argv[1]) if len(sys.argv) > 1 else NODE_DIR))
