"""How jobs/s grows from 1 to 2 worker processes, and what each job costs the shared pieces.

    .venv/bin/python bench/scaleout.py [--jobs 300] [--delays-ms 0,100]

Workers run the no-op engine (UPSCALER_ENGINE_NOOP, nearest-neighbour x4 of 8x8 images, for
benchmarks only), so what is measured is the queue, SQL and S3 path a GPU fleet shares: Redis,
PostgreSQL, the S3 endpoint. Per job it records the CPU seconds PostgreSQL and Redis spent
(from /proc, backends included) and the Redis commands (INFO commandstats): the figures the
capacity note in the README scales to 50 GPUs. With --delay-ms the no-op engine sleeps that
long per image (under its one-image-at-a-time device turn), standing in for GPU time; the
default runs 0 ms (the shared pieces' own limit) and 100 ms (a GPU-bound fleet).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import write_section  # noqa: E402
from bench.stack import bench_stack, cpu_seconds  # noqa: E402
from tests.textures import texture  # noqa: E402


def redis_commands() -> int:
    stats = redis.Redis().info("commandstats")
    return sum(v["calls"] for v in stats.values())


def measure(stack, workers: int, prefix: str, delay_ms: int) -> dict:
    stack.stop_workers()
    stack.start_workers(workers, engine_noop="1", engine_noop_delay_ms=str(delay_ms), metrics_port="0")
    stack.run_batch("warm-up/", f"warm-up-{prefix}/", "realesr-animevideov3")
    pg, rd, commands = cpu_seconds(("postgres",)), cpu_seconds(("redis-server",)), redis_commands()
    jobs, wall = stack.run_batch("in/", f"{prefix}/", "realesr-animevideov3")
    return {"workers": workers, "jobs": len(jobs), "wall_s": wall, "jobs_per_s": len(jobs) / wall,
            "submit_ms_per_job": stack.last_submit_s * 1000 / len(jobs),
            "pg_cpu_ms_per_job": (cpu_seconds(("postgres",)) - pg) * 1000 / len(jobs),
            "redis_cpu_ms_per_job": (cpu_seconds(("redis-server",)) - rd) * 1000 / len(jobs),
            "redis_commands_per_job": (redis_commands() - commands) / len(jobs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--delays-ms", default="0,100",
                        help="no-op engine delays to run, comma-separated: 0 measures the shared pieces alone")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from upscaler.imageio import encode

    with bench_stack("scaleout") as stack:
        stack.upload({f"in/{i:05d}.png": encode(texture(8, 8, seed=i % 50), "png") for i in range(args.jobs)})
        stack.upload({"warm-up/0.png": encode(texture(8, 8), "png")})
        runs = [(delay, [measure(stack, n, f"d{delay}-w{n}", delay) for n in (1, 2)])
                for delay in (int(d) for d in args.delays_ms.split(","))]

    lines = [
        f"{args.jobs} jobs of 8x8 PNG through the no-op engine, real Redis, PostgreSQL and moto S3 on this "
        "machine; each run after a warm-up job per worker. The delay stands in for GPU time per image.",
        "",
        "| no-op delay | worker processes | jobs/s | scaling | PostgreSQL CPU ms/job | Redis CPU ms/job "
        "| Redis commands/job | submit ms/job |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for delay, pair in runs:
        for run in pair:
            lines.append(f"| {delay} ms | {run['workers']} | {run['jobs_per_s']:.1f} "
                         f"| {run['jobs_per_s'] / pair[0]['jobs_per_s']:.2f}x | {run['pg_cpu_ms_per_job']:.2f} "
                         f"| {run['redis_cpu_ms_per_job']:.2f} | {run['redis_commands_per_job']:.0f} "
                         f"| {run['submit_ms_per_job']:.2f} |")
    lines += ["", "Submit = listing the S3 prefix, inserting the job rows, sending the messages (before the "
              "workers start on them). This machine has 2 cores shared by the workers, moto, PostgreSQL and Redis: the second "
              "worker's gain is bounded by them, not by the design (no lock or shared state between workers "
              "but the job rows each one claims)."]
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Scale-out: 1 vs 2 worker processes (no-op engine)",
                      body + f"\n\nCommand: `.venv/bin/python bench/scaleout.py {' '.join(sys.argv[1:])}`".rstrip())


if __name__ == "__main__":
    main()
