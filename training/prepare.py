"""``upscaler train prepare``: supplier images -> a training set of multi-scale GT crops.

Like Real-ESRGAN's DF2K preparation: every kept image at scales 1, 0.75, 0.5 and 1/3
(Lanczos), cut into sub-images (400 px, step 200 by default), listed in ``meta_info.txt``.

The study removed one-coloured and pattern-less images by hand (6,125 -> 4,750 images); here
every image gets a texture score and those under ``threshold`` are left out, with the scores
(``scores.csv``), the list (``removed.txt``) and a contact sheet of what was removed
(``removed_contact_sheet.png``) written next to the crops so a person can check the cut.
"""

from __future__ import annotations

import csv
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from upscaler.errors import UpscalerError
from upscaler.imageio import INPUT_SUFFIXES, Limits, decode, to_8bit
from upscaler.storage import Storage

SCALES = (1.0, 0.75, 0.5, 1 / 3)
SCORE_SIZE = 256            # images are scored at this longest side, so scores compare across sizes
# Measured: flat colours, smooth gradients and flat colours with sensor noise score 0-1.3; the
# bundled brick/grass/gravel 14-40, a fine fabric weave 15, a photo 16.
DEFAULT_THRESHOLD = 3.0


@dataclass
class PrepareReport:
    images: int = 0
    kept: int = 0
    removed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    crops: int = 0

    def to_json(self) -> dict:
        return {"images": self.images, "kept": self.kept, "removed": self.removed,
                "unreadable": self.unreadable, "crops": self.crops}


def texture_score(bgr: np.ndarray) -> float:
    """How much texture/pattern an image has: mean absolute Laplacian of its gray version.

    Measured at a fixed size (so big and small images compare) after a light blur (sigma 1
    pixel), so that sensor noise and JPEG grain on a plain colour do not count as texture.
    """
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    scale = SCORE_SIZE / max(gray.shape)
    if scale < 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.0)
    return float(np.abs(cv2.Laplacian(smooth, cv2.CV_32F, ksize=3)).mean())


def _positions(length: int, crop: int, step: int) -> list[int]:
    if length <= crop:
        return [0]
    positions = list(range(0, length - crop + 1, step))
    if length - (positions[-1] + crop) > 0:
        positions.append(length - crop)
    return positions


def crops_of(image: np.ndarray, crop: int, step: int, min_size: int) -> list[np.ndarray]:
    h, w = image.shape[:2]
    if min(h, w) < min_size:
        return []
    return [image[y : y + crop, x : x + crop] for y in _positions(h, crop, step) for x in _positions(w, crop, step)]


def contact_sheet(images: list[tuple[str, np.ndarray]], thumb: int = 128, columns: int = 6) -> np.ndarray:
    rows = max(1, math.ceil(len(images) / columns))
    sheet = np.full((rows * (thumb + 20), columns * thumb, 3), 255, np.uint8)
    for i, (name, image) in enumerate(images):
        y, x = (i // columns) * (thumb + 20), (i % columns) * thumb
        small = cv2.resize(image, (thumb, thumb), interpolation=cv2.INTER_AREA)
        sheet[y : y + thumb, x : x + thumb] = small
        cv2.putText(sheet, name[:18], (x + 2, y + thumb + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    return sheet


def prepare(source: str, output: Path, *, crop: int = 400, step: int = 200, min_size: int = 64,
            threshold: float = DEFAULT_THRESHOLD, storage: Storage | None = None,
            limits: Limits | None = None, progress=None) -> PrepareReport:
    storage = storage or Storage()
    limits = limits or Limits(200_000_000, 10**12, 500 * 2**20)
    output.mkdir(parents=True, exist_ok=True)
    (output / "gt").mkdir(exist_ok=True)
    report, removed_images, meta, scores = PrepareReport(), [], [], []
    listing = [i for i in storage.list(source) if posixpath.splitext(i.relative_key)[1].lower() in INPUT_SUFFIXES]
    for info in listing:
        report.images += 1
        try:
            pixels = decode(storage.get(info.uri, limits.max_input_bytes), info.uri, limits, 1.0).pixels
        except UpscalerError as exc:
            report.unreadable.append(f"{info.relative_key}: {exc}")
            continue
        bgr = to_8bit(pixels)
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR) if bgr.ndim == 2 else bgr[:, :, :3]
        score = texture_score(bgr)
        kept = score >= threshold
        scores.append((info.relative_key, round(score, 3), kept))
        if not kept:
            report.removed.append(info.relative_key)
            removed_images.append((posixpath.basename(info.relative_key), bgr))
            continue
        report.kept += 1
        stem = posixpath.splitext(info.relative_key)[0].replace("/", "__")
        for s_index, scale in enumerate(SCALES):
            scaled = bgr if scale == 1 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LANCZOS4)
            for c_index, piece in enumerate(crops_of(scaled, crop, step, min_size)):
                name = f"gt/{stem}_s{s_index}_{c_index:03d}.png"
                cv2.imwrite(str(output / name), piece)
                meta.append(name)
        if progress:
            progress(report.images, len(listing))
    report.crops = len(meta)
    (output / "meta_info.txt").write_text("".join(f"{m}\n" for m in meta))
    with (output / "scores.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "texture_score", "kept"])
        writer.writerows(scores)
    (output / "removed.txt").write_text("".join(f"{r}\n" for r in report.removed))
    if removed_images:
        cv2.imwrite(str(output / "removed_contact_sheet.png"), contact_sheet(removed_images))
    return report
