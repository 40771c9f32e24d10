"""One worker's end-to-end throughput against the engine alone, on the same images, in one run.

    .venv/bin/python bench/pipeline.py [--jobs 40] [--size 160] [--model realesr-animevideov3]
    .venv/bin/python bench/pipeline.py --device cuda --model realesrgan-x4plus --jobs 50 --size 512

Real services (bench/stack.py): Redis, PostgreSQL, moto in server mode as S3, one `upscaler
worker` process keeping ``--jobs-in-flight`` jobs at once. The engine-only loop runs decode,
infer and encode of the same bytes one after another in this process: what a worker would do
with nothing else to wait for. The worker's throughput is counted from submission to the last
job finished; the jobs table's per-stage timings say where each job's time went.

On CPU the "device" is the processor itself: both runs give torch ``--torch-threads`` threads
(default 1 of this machine's 2 cores), which leaves the other core to play the host, as a GPU
machine's CPU is apart from its GPU. Prints BENCH-START / BENCH-END around the measured batch
(bench/gpu_busy.py samples the GPU between them).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import write_section  # noqa: E402
from db.models import STAGES  # noqa: E402
from tests.textures import texture  # noqa: E402

CPU_NOTE = ("On a CPU the device is the processor the host work also needs. With torch on one core the "
            "other core plays the host, as a GPU machine's CPU is apart from its GPU; with torch on both "
            "cores the worker's own work (S3 client, SQL, Celery), moto, PostgreSQL and Redis take CPU "
            "from inference itself, and no overlap can give it back.")


def warm_up_images(images: dict[str, bytes]) -> dict[str, bytes]:
    """Two of the images, run before each measurement: a worker's one-time costs (model load,
    precision calibration, and on CUDA cuDNN's kernel choice per shape and the CUDA graph that a
    tile-batch shape gets on its second use) stay out of a throughput that stands for hours of
    work. Two images of the measured size use each of their shapes twice."""
    return {f"warm-up/{n}.png": data for n, data in enumerate(list(images.values())[:2])}


def engine_loop(images: dict[str, bytes], model: str, device: str) -> list[float]:
    """Seconds per image of decode + infer + encode, one after another, after a warm-up."""
    from upscaler.engine import Engine
    from upscaler.imageio import encode
    from upscaler.jobspec import JobRequest
    from upscaler.processing import limits_from, upscale_image
    from upscaler.settings import get_settings
    from upscaler.zoo.registry import ModelZoo

    settings = get_settings()
    engine = Engine.from_settings(ModelZoo(settings.models_dir), settings, device)
    options = JobRequest.from_fields(model=model, format="png")
    limits = limits_from(settings)

    def process(key: str, data: bytes) -> bytes:
        upscaled = upscale_image(engine, data, key, options, limits)
        return encode(upscaled.pixels, upscaled.format, options.output.quality, color=upscaled.color)

    for key, data in warm_up_images(images).items():
        process(key, data)
    seconds = []
    for key, data in images.items():
        start = time.perf_counter()
        process(key, data)
        seconds.append(time.perf_counter() - start)
    return seconds


def run_on_services(images: dict[str, bytes], args):
    from bench.stack import bench_stack  # Redis, PostgreSQL and S3 clients: not on the embedded path

    with bench_stack("bench") as stack:
        stack.upload(images)
        stack.upload(warm_up_images(images))
        engine_seconds = engine_loop(images, args.model, args.device)
        worker_settings = {"device": args.device, "torch_threads": str(args.torch_threads if args.device == "cpu" else 0)}
        stack.start_workers(1, worker_jobs_in_flight=str(args.jobs_in_flight), **worker_settings)
        stack.run_batch("warm-up/", "warm-up-out/", args.model)  # one-time costs (warm_up_images), not measured
        print("BENCH-START", flush=True)
        jobs, wall = stack.run_batch("in/", "out/", args.model)
        print("BENCH-END", flush=True)
        serial = None
        if args.jobs_in_flight > 1 and not args.skip_serial:
            # The same worker holding one job at a time: what the overlap is worth.
            stack.stop_workers()
            stack.start_workers(1, worker_jobs_in_flight="1", **worker_settings)
            stack.run_batch("warm-up/", "warm-up-serial/", args.model)
            serial = stack.run_batch("in/", "out-serial/", args.model)[1]
    return jobs, wall, engine_seconds, serial


def run_embedded(images: dict[str, bytes], args):
    """The embedded default instead of the services: SQLite, local folders, jobs run in this
    process (as many in flight): for machines without Redis and PostgreSQL (the lent GPUs)."""
    import os
    import tempfile

    from upscaler.settings import get_settings

    work = Path(tempfile.mkdtemp(prefix="upscaler-pipeline-"))
    for key, data in {**images, **warm_up_images(images)}.items():
        (work / key).parent.mkdir(parents=True, exist_ok=True)
        (work / key).write_bytes(data)
    models = Path(os.environ.get("UPSCALER_DATA_DIR", get_settings().data_dir)) / "models"
    (work / "state").mkdir()
    if models.is_dir():
        (work / "state" / "models").symlink_to(models, target_is_directory=True)
    for key in ("UPSCALER_DATABASE_URL", "UPSCALER_BROKER_URL"):
        os.environ.pop(key, None)
    os.environ.update(UPSCALER_DATA_DIR=str(work / "state"), UPSCALER_WORKER_JOBS_IN_FLIGHT=str(args.jobs_in_flight))
    get_settings.cache_clear()
    from sqlalchemy import select

    from db.migrate import upgrade
    from db.models import Job
    from db.session import session_scope
    from producer.submit import create_batch
    from cli.common import dispatcher

    upgrade()
    engine_seconds = engine_loop(images, args.model, args.device)

    def run(folder: str, output: str):
        start = time.perf_counter()
        batch = create_batch([str(work / folder)], str(work / output), model=args.model)
        dispatcher().jobs(batch.job_ids)
        wall = time.perf_counter() - start
        with session_scope() as session:
            return list(session.scalars(select(Job).where(Job.batch_id == batch.batch_id))), wall

    run("warm-up", "warm-up-out")
    print("BENCH-START", flush=True)
    jobs, wall = run("in", "out")
    print("BENCH-END", flush=True)
    return jobs, wall, engine_seconds, None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--size", type=int, default=160, help="input edge in pixels")
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--jobs-in-flight", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, default=1, help="CPU only; 0 = torch's default")
    parser.add_argument("--embedded", action="store_true",
                        help="no Redis/PostgreSQL/S3: SQLite, local folders, jobs run in this process")
    parser.add_argument("--skip-serial", action="store_true", help="skip the one-job-at-a-time comparison run")
    parser.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    parser.add_argument("--no-write", action="store_true", help="do not touch bench/RESULTS.md")
    parser.add_argument("--title", help="the bench/RESULTS.md section to write (default: from device and model)")
    args = parser.parse_args()

    import os

    os.environ["UPSCALER_DEVICE"] = args.device
    if args.device == "cpu" and args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
        os.environ["UPSCALER_TORCH_THREADS"] = str(args.torch_threads)
    from upscaler.imageio import encode

    images = {f"in/{i:04d}.png": encode(texture(args.size, args.size, seed=i), "png") for i in range(args.jobs)}
    if args.embedded:
        jobs, wall, engine_seconds, serial = run_embedded(images, args)
    else:
        jobs, wall, engine_seconds, serial = run_on_services(images, args)

    figures = summarise(jobs, wall, engine_seconds)
    figures["serial_jobs_per_s"] = len(jobs) / serial if serial else None
    body = report(figures, args)
    print(body)
    if args.json_out:
        args.json_out.write_text(json.dumps(figures, indent=2))
    if not args.no_write:
        title = args.title or ("Pipeline throughput, one worker (CPU, compact model)" if args.device == "cpu" else
                               f"Pipeline throughput, one worker ({args.device}, {args.model})")
        command = " ".join(sys.argv[1:])
        write_section(title, body + f"\n\nCommand: `.venv/bin/python bench/pipeline.py {command}`")


def summarise(jobs: list, wall: float, engine_seconds: list[float]) -> dict:
    jobs = sorted(jobs, key=lambda j: j.started_at)
    window = (max(j.finished_at for j in jobs) - jobs[0].started_at).total_seconds()
    engine_rate = len(engine_seconds) / sum(engine_seconds)
    return {
        "jobs": len(jobs),
        "engine_images_per_s": engine_rate,
        "pipeline_jobs_per_s": len(jobs) / wall,
        "pipeline_jobs_per_s_in_worker": len(jobs) / window,
        "ratio": len(jobs) / wall / engine_rate,
        "wall_s": wall,
        "device_busy": sum(j.infer_ms for j in jobs) / 1000 / window,
        "stage_median_ms": {s: statistics.median(getattr(j, f"{s}_ms") for j in jobs) for s in STAGES},
        "engine_median_ms": statistics.median(engine_seconds) * 1000,
        "in_worker_median_ms": statistics.median((j.finished_at - j.started_at).total_seconds() * 1000 for j in jobs),
    }


def report(f: dict, args) -> str:
    stage = f["stage_median_ms"]
    threads = ""
    if args.device == "cpu":
        import torch

        threads = f", torch {args.torch_threads or torch.get_num_threads()} thread(s)"
    path = "files in, SQLite, in-process, files out" if args.embedded else "S3 in, SQL, Redis, S3 out"
    lines = [
        f"{f['jobs']} jobs of {args.size}x{args.size} PNG in, PNG out; model {args.model} on {args.device}{threads}; "
        f"{'the embedded in-process worker' if args.embedded else 'one worker process'} with "
        f"{args.jobs_in_flight} jobs in flight.",
        "",
        "| run | images/s | vs engine alone |",
        "|---|---|---|",
        f"| engine alone (decode, infer, encode one after another, in-process) | {f['engine_images_per_s']:.2f} | 1.00 |",
        f"| **pipeline: submit to last job finished** ({path}) | **{f['pipeline_jobs_per_s']:.2f}** "
        f"| **{f['ratio']:.2f}** |",
        f"| pipeline: first job started to last finished, in the worker | {f['pipeline_jobs_per_s_in_worker']:.2f} "
        f"| {f['pipeline_jobs_per_s_in_worker'] / f['engine_images_per_s']:.2f} |",
    ]
    if f.get("serial_jobs_per_s"):
        lines.append(f"| same worker, one job at a time (no overlap) | {f['serial_jobs_per_s']:.2f} "
                     f"| {f['serial_jobs_per_s'] / f['engine_images_per_s']:.2f} |")
    lines += [
        "",
        "Per-stage medians from the jobs table (ms per job; stages of different jobs overlap):",
        "",
        "| " + " | ".join(STAGES) + " | in worker | engine alone |",
        "|" + "---|" * (len(STAGES) + 2),
        "| " + " | ".join(f"{stage[s]:.0f}" for s in STAGES) + f" | {f['in_worker_median_ms']:.0f} | {f['engine_median_ms']:.0f} |",
        "",
        f"Device busy (sum of infer over the worker's window): {f['device_busy']:.0%}. "
        "Target: pipeline >= 90% of the engine alone.",
    ]
    if args.device == "cpu":
        lines += ["", CPU_NOTE]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
