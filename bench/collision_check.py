"""What the output collision check costs a submit of material sets, on SQLite and PostgreSQL.

Two folders with the same N names (``sub/tile-00000.png`` ...; never decoded: nothing runs) are
submitted with ``--maps all`` to one output prefix through ``producer.submit.create_batch``: the
first finds nothing in its way, the second collides on every output (each set folder is
checked against the first batch's images and folders as an index range). Each run uses a fresh
SQLite file or PostgreSQL schema (database ``test`` on 127.0.0.1), in its own process.

    .venv/bin/python bench/collision_check.py --names 5000 --repeats 3
    PYTHONPATH=/path/to/other/checkout .venv/bin/python bench/collision_check.py   # the same on other code
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(names: int, database: str) -> tuple[float, float]:
    from db.migrate import upgrade
    from producer.submit import create_batch
    from upscaler.jobspec import JobRequest

    root = Path(tempfile.mkdtemp(prefix="collision-bench-"))
    if database == "sqlite":
        url = f"sqlite:///{root / 'bench.sqlite3'}"
    else:
        sys.path.insert(0, str(ROOT))
        from tests.services import create_pg_schema

        _, url = create_pg_schema("collision_bench")
    upgrade(url)
    for side in ("first", "second"):
        folder = root / side / "sub"
        folder.mkdir(parents=True)
        for i in range(names):
            (folder / f"tile-{i:05d}.png").write_bytes(b"x")
    seconds = []
    for side, expected in (("first", 0), ("second", names)):
        start = time.perf_counter()
        result = create_batch([str(root / side)], str(root / "out"), params=JobRequest.from_fields(maps="all"), database_url=url)
        seconds.append(time.perf_counter() - start)
        assert result.collisions == expected, (side, result.collisions)
    return seconds[0], seconds[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", choices=["sqlite", "postgresql"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(*one_run(args.names, args.one))
        return
    for database in ("sqlite", "postgresql"):
        runs = [tuple(map(float, subprocess.run([sys.executable, __file__, "--names", str(args.names), "--one", database],
                                                check=True, capture_output=True, text=True).stdout.split()))
                for _ in range(args.repeats)]
        first, second = (statistics.median(r[i] for r in runs) for i in (0, 1))
        print(f"| {database} | {args.names} | {first:.2f} | {second:.2f} |")


if __name__ == "__main__":
    main()
