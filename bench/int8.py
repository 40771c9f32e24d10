"""int8 for the CPU: x4plus quantized after training with NNCF, measured against OpenVINO fp32.

    .venv/bin/pip install -e '.[bench]'        # NNCF: a benchmark tool here, not a run-time dependency
    .venv/bin/python bench/texture_set.py       # once: the ground-truth set
    .venv/bin/python bench/int8.py              # writes a section of bench/RESULTS.md

The fp32 network is the engine's OpenVINO conversion (engine/openvino_cache.py). NNCF calibrates
its quantizers on windows of material swatches that are not in the ground-truth set (the photos
in samples/ and samples/colour/, as a user hands them in, cut in 64 px windows), and
quantizes every convolution (``all``), or all but the ones at full output resolution and the
upsampling path (``body``: conv_first, the trunk and the dense blocks in int8; conv_up1, conv_up2,
conv_hr and conv_last in float, where one level of error lands on every output pixel).

Measured on the ground-truth set (bench/.cache/texture_set: centre crops of ``--crop`` px, reduced
x4 by area averaging, upscaled x4 whole): each int8 output against OpenVINO fp32's (PSNR, dB), and
its texture metrics against the truth (detail ratio, spectral distance; upscaler.evaluation)
against fp32's own; speed on a 128 px input, best of ``--rounds``, interleaved with fp32 and bf16.
The engine offers ``--precision int8`` only if int8 holds 45 dB to fp32 on every image and its
texture metrics stay within 0.02 of fp32's; the verdict is written with the numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import photo_like, write_section  # noqa: E402
from bench.texture import SET, load_truths  # noqa: E402
from upscaler.evaluation.image_metrics import detail_ratio, psnr, spectral_distance  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL = "realesrgan-x4plus"
MIN_PSNR_DB, MAX_METRIC_DELTA = 45.0, 0.02
WINDOW = 64
# Layers kept in float by the "body" variant: everything at 2x and 4x the input's resolution.
FLOAT_LAYERS = (".*conv_up1.*", ".*conv_up2.*", ".*conv_hr.*", ".*conv_last.*")
HINTS = {"fp32": "f32", "bf16": "bf16"}


def calibration_windows(limit: int) -> list[np.ndarray]:
    """NHWC float RGB windows (batch 1) of the sample photos, as a user hands them to the engine."""
    windows = []
    for path in sorted((REPO / "samples").glob("*.png")) + sorted((REPO / "samples" / "colour").glob("*.png")):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        for y in range(0, image.shape[0] - WINDOW + 1, WINDOW):
            for x in range(0, image.shape[1] - WINDOW + 1, WINDOW):
                window = image[y : y + WINDOW, x : x + WINDOW, ::-1].astype(np.float32) / 255
                windows.append(np.ascontiguousarray(window)[None])
    if len(windows) < 8:
        raise SystemExit(f"only {len(windows)} calibration windows of {WINDOW} px in samples/")
    step = max(1, len(windows) // limit)
    return windows[::step][:limit]


def quantize(xml: Path, windows: list[np.ndarray], variant: str, out: Path) -> Path:
    import nncf
    import openvino as ov

    model = ov.Core().read_model(str(xml))
    ignored = nncf.IgnoredScope(patterns=list(FLOAT_LAYERS), validate=False) if variant == "body" else None
    quantized = nncf.quantize(model, nncf.Dataset(windows), preset=nncf.QuantizationPreset.PERFORMANCE,
                              subset_size=len(windows), fast_bias_correction=True,
                              **({"ignored_scope": ignored} if ignored else {}))
    out.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(out / "model.xml"), compress_to_fp16=False)
    return out / "model.xml"


class Compiled:
    """One compiled model and its request: NHWC float RGB in 0..1 -> out, clamped."""

    def __init__(self, xml: Path, hint: str) -> None:
        import openvino as ov

        self.request = ov.Core().compile_model(str(xml), "CPU", {"INFERENCE_PRECISION_HINT": hint,
                                                                  "PERFORMANCE_HINT": "LATENCY"}).create_infer_request()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch}, share_inputs=True)
        return np.clip(self.request.get_output_tensor(0).data, 0, 1).copy()


def upscale(net: Compiled, bgr: np.ndarray) -> np.ndarray:
    """A BGR uint8 image x4, whole, as 8-bit BGR (what the engine writes)."""
    rgb = np.ascontiguousarray(bgr[:, :, ::-1], dtype=np.float32)[None] / 255
    return np.rint(net(rgb)[0][:, :, ::-1] * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, default=256, help="truths' centre crop, px (inputs: a quarter)")
    parser.add_argument("--windows", type=int, default=48, help="calibration windows")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from upscaler.engine import Engine
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    settings = get_settings()
    engine = Engine(ModelZoo(settings.models_dir), "cpu", "fp32", cpu_runtime="openvino",
                    conversion_dir=settings.data_dir / "openvino")
    engine.network(MODEL)  # converted (or found) in the engine's cache
    fp32_xml = next(p / "model.xml" for p in (settings.data_dir / "openvino").iterdir()
                    if (p / "manifest.json").is_file() and f'"name": "{MODEL}"' in (p / "manifest.json").read_text())
    windows = calibration_windows(args.windows)
    work = REPO / "bench" / ".cache" / "int8"
    xmls = {"fp32": fp32_xml, "bf16": fp32_xml}
    for variant in ("all", "body"):
        started = time.perf_counter()
        xmls[f"int8 {variant}"] = quantize(fp32_xml, windows, variant, work / variant)
        print(f"quantized ({variant}) in {time.perf_counter() - started:.0f} s", flush=True)
    nets = {name: Compiled(xml, HINTS.get(name, "f32")) for name, xml in xmls.items()}

    truths = load_truths(SET, args.crop)
    per = {name: [] for name in nets if name.startswith("int8")}
    fp32_metrics = []
    for truth in truths:
        reference = upscale(nets["fp32"], truth.low_res)
        fp32_metrics.append((detail_ratio(reference, truth.pixels), spectral_distance(reference, truth.pixels)))
        for name in per:
            out = upscale(nets[name], truth.low_res)
            per[name].append((psnr(out / 255, reference / 255), detail_ratio(out, truth.pixels),
                              spectral_distance(out, truth.pixels)))

    image = photo_like(128)[:, :, ::-1].astype(np.float32)[None] / 255
    speed = {name: [] for name in nets}
    cpu = {name: [] for name in nets}
    for net in nets.values():
        net(image)  # warm-up
    for _ in range(args.rounds):
        for name, net in nets.items():
            start, used = time.perf_counter(), time.process_time()
            net(image)
            speed[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - used)

    rows, held = [], {}
    for name, values in per.items():
        dbs = [v[0] for v in values]
        d_detail = [abs(v[1] - f[0]) for v, f in zip(values, fp32_metrics)]
        d_spectral = [abs(v[2] - f[1]) for v, f in zip(values, fp32_metrics)]
        held[name] = min(dbs) >= MIN_PSNR_DB and max(d_detail) <= MAX_METRIC_DELTA and max(d_spectral) <= MAX_METRIC_DELTA
        rows.append(f"| {name} | {min(dbs):.1f} / {statistics.mean(dbs):.1f} | {max(d_detail):.3f} / "
                    f"{statistics.mean(d_detail):.3f} | {max(d_spectral):.3f} / {statistics.mean(d_spectral):.3f} | "
                    f"{min(speed[name]):.2f} ({min(cpu[name]):.2f}) | {min(speed['fp32']) / min(speed[name]):.2f} | "
                    f"{min(speed['bf16']) / min(speed[name]):.2f} | {'holds' if held[name] else 'fails'} |")
    table = ("| network | PSNR to fp32, worst / mean (dB) | \\|detail ratio - fp32's\\|, worst / mean | "
             "\\|spectral distance - fp32's\\|, worst / mean | 128 px: best wall s (CPU s) | speed vs fp32 | "
             "speed vs bf16 | 45 dB and 0.02 |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    base = (f"fp32 {min(speed['fp32']):.2f} s ({min(cpu['fp32']):.2f} CPU s), bf16 {min(speed['bf16']):.2f} s "
            f"({min(cpu['bf16']):.2f} CPU s) on the same 128 px input")
    verdict = ("int8 holds: offer it" if any(held.values()) else
               "int8 does not hold 45 dB and 0.02 of fp32's texture metrics on every image: the engine does not "
               "offer it (--precision takes auto, fp32, fp16 or bf16)")
    notes = (f"{len(truths)} ground truths (bench/texture_set.py), centre crops of {args.crop} px, inputs "
             f"{args.crop // 4} px upscaled whole; {len(windows)} calibration windows of {WINDOW} px from "
             f"samples/ (not in the set); NNCF performance preset, fast bias correction. {base}; "
             f"{args.rounds} rounds, interleaved. Load average (1 min) {os.getloadavg()[0]:.1f} on "
             f"{len(os.sched_getaffinity(0))} shared cores.\n\nVerdict: {verdict}.")
    print(table, notes, sep="\n\n")
    if not args.no_write:
        command = f".venv/bin/python bench/int8.py {' '.join(sys.argv[1:])}".strip()
        write_section("int8 with NNCF (CPU)", f"{table}\n\n{notes}\n\nCommand: `{command}`")


if __name__ == "__main__":
    main()
