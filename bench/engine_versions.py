"""The engine at two revisions of this repository, each against RealESRGANer, interleaved.

    .venv/bin/python bench/engine_versions.py --before a4e1be0            # writes bench/RESULTS.md
    .venv/bin/python bench/engine_versions.py --before a4e1be0 --model realesrgan-x4plus --rounds 1

Each revision's own ``bench/engine.py`` runs in a subprocess, from a worktree of that revision
(the current tree for ``--after``, default), alternating before/after for ``--rounds`` rounds, so
that load on the machine falls on both alike. What is compared is each run's ratio to the
reference in the same process (RealESRGANer, the same code at every revision), and the
megapixels per second themselves. "No slower" means the after/before ratio of ratios is not
below 1 by more than the spread between rounds.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import write_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ROW = re.compile(r"^\| (?P<label>[^|]+) \| (?P<rate>[0-9.]+) \| (?P<ratio>[0-9.]+) \|")


def run_engine_bench(tree: Path, args: argparse.Namespace) -> dict[str, float]:
    """One run of ``tree``'s bench/engine.py: the reference's and ours' input MP/s."""
    command = [sys.executable, str(tree / "bench" / "engine.py"), "--no-write", "--model", args.model,
               "--precisions", args.precision, "--tile", str(args.tile), "--extra-size", str(args.extra_size)]
    out = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=True).stdout
    rows = [m for m in map(ROW.match, out.splitlines()) if m]
    reference = next(float(m["rate"]) for m in rows if m["label"].startswith("reference"))
    ours = next(float(m["rate"]) for m in rows if m["label"].startswith("ours"))
    return {"reference": reference, "ours": ours, "ratio": ours / reference}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="git revision of the earlier engine")
    parser.add_argument("--after", default="", help="git revision of the later engine (default: the working tree)")
    parser.add_argument("--model", default="realesr-animevideov3")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--tile", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra-size", type=int, default=512, help="bench/engine.py's extra colour image (px)")
    parser.add_argument("--title", default="Engine before and after the one-way restructuring (CPU)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="engine-versions-") as scratch:
        trees = {}
        for name, revision in (("before", args.before), ("after", args.after)):
            if not revision:
                trees[name] = REPO
                continue
            tree = Path(scratch) / name
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), revision],
                           check=True, capture_output=True)
            trees[name] = tree
        try:
            runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
            for round_ in range(args.rounds):
                for name in ("before", "after") if round_ % 2 == 0 else ("after", "before"):
                    runs[name].append(run_engine_bench(trees[name], args))
                    print(name, runs[name][-1], flush=True)
        finally:
            for name, tree in trees.items():
                if tree != REPO:
                    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                                   capture_output=True)

    def cell(name: str, key: str) -> str:
        values = [r[key] for r in runs[name]]
        return " / ".join(f"{v:.4f}" if key != "ratio" else f"{v:.2f}" for v in values)

    after_revision = args.after or f"working tree on {git_head()}"
    table = ("| engine | revision | reference input MP/s (each round) | ours input MP/s | ours / reference |\n"
             "|---|---|---|---|---|\n"
             f"| before | {args.before} | {cell('before', 'reference')} | {cell('before', 'ours')} | "
             f"{cell('before', 'ratio')} |\n"
             f"| after | {after_revision} | {cell('after', 'reference')} | {cell('after', 'ours')} | "
             f"{cell('after', 'ratio')} |")
    # Ours is measured directly (the same images, the same machine, alternating), and through its
    # ratio to the reference run in the same process; the reference itself swings with the load.
    median = {name: statistics.median(r["ours"] for r in runs[name]) for name in runs}
    spread = max((max(r["ours"] for r in runs[name]) - min(r["ours"] for r in runs[name])) / median[name]
                 for name in runs)
    change = median["after"] / median["before"]
    ratio_change = statistics.median(r["ratio"] for r in runs["after"]) / \
        statistics.median(r["ratio"] for r in runs["before"])
    verdict = (f"After / before, our input MP/s (medians): **{change:.3f}**; rounds of one revision differ by up "
               f"to {spread:.1%}. After / before, ratio to the reference (medians): {ratio_change:.3f}. "
               f"{'No slower, within the spread between rounds.' if change >= 1 - spread else 'Slower.'}")
    print(table)
    print(verdict)
    if not args.no_write:
        write_section(args.title, f"Model {args.model}, {args.precision}, tile {args.tile}; the images of "
                                  f"bench/engine.py with a {args.extra_size} px colour image; {args.rounds} rounds, "
                                  f"alternating.\n\n{table}\n\n{verdict}\n\n"
                                  f"Command: `.venv/bin/python bench/engine_versions.py "
                                  f"{' '.join(sys.argv[1:])}`")


def git_head() -> str:
    return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()


if __name__ == "__main__":
    main()
