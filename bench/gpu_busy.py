"""How busy the GPU was while a command ran, over the part of the run that it measures.

    python bench/gpu_busy.py [--threshold 90] [--json busy.json] -- CMD ARGS...

Samples GPU utilisation with a sampler command running beside CMD (by default
``nvidia-smi --query-gpu=timestamp,utilization.gpu ... -lms 100``), passes CMD's output through,
and averages the samples taken between the first line CMD prints containing ``BENCH-START`` and
the next containing ``BENCH-END`` (bench/pipeline.py prints them around its measured batch), so
that start-up and model loading are left out. Without the markers the whole run counts, and
the summary says so. Exits with CMD's exit status.

nvidia-smi's utilization.gpu is the share of the last sample period in which at least one kernel
was running: its mean over the window is the fraction of time the GPU was busy. It says nothing
of how well each kernel fills the SMs (bench/flops.py's share of peak covers that). The summary
also gives the share of samples at or above --threshold.

The sampler is any command that prints one sample per line, either ``VALUE`` or
``TIMESTAMP, VALUE`` (nvidia-smi's "YYYY/MM/DD HH:MM:SS.mmm"); --sampler replaces it, which is
how the tests run this without a GPU.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

START, END = "BENCH-START", "BENCH-END"


def default_sampler(interval_ms: int = 100) -> list[str]:
    # The first visible GPU; a single-GPU machine is what this is for. nvidia-smi block-buffers
    # its output into a pipe, so the last seconds of samples would arrive only at exit (or be
    # lost when it is stopped): stdbuf makes it write each line as it is taken.
    gpu = (os.environ.get("CUDA_VISIBLE_DEVICES") or "0").split(",")[0]
    cmd = ["nvidia-smi", "-i", gpu, "--query-gpu=timestamp,utilization.gpu", "--format=csv,noheader,nounits",
           "-lms", str(interval_ms)]
    # (Without nvidia-smi, start it bare so that the summary says "No such file: 'nvidia-smi'".)
    return (["stdbuf", "-oL"] if shutil.which("stdbuf") and shutil.which("nvidia-smi") else []) + cmd


def parse_sample(line: str, arrived: float) -> tuple[float, float] | None:
    """(time, utilisation %) from one sampler line; None for a line that holds no number."""
    fields = [f.strip() for f in line.split(",")]
    try:
        value = float(fields[-1])
    except ValueError:
        return None  # "[N/A]", a header, an error message
    when = arrived
    if len(fields) > 1:  # the sampler's own clock beats our arrival time, whatever the buffering
        try:
            when = datetime.strptime(fields[0], "%Y/%m/%d %H:%M:%S.%f").timestamp()
        except ValueError:
            pass
    return when, value


def summarize(samples: list[tuple[float, float]], window: tuple[float, float], threshold: float) -> dict:
    """Mean utilisation and the share of samples >= threshold, over samples inside the window."""
    inside = [value for when, value in samples if window[0] <= when <= window[1]]
    if not inside:
        return {"samples": 0, "mean_util": None, "busy_fraction": None, "at_or_above_threshold": None}
    mean = sum(inside) / len(inside)
    return {"samples": len(inside), "mean_util": round(mean, 2), "busy_fraction": round(mean / 100, 4),
            "at_or_above_threshold": round(sum(v >= threshold for v in inside) / len(inside), 4)}


class Sampler:
    """The sampler command in the background, its lines parsed into (time, value) by a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.samples: list[tuple[float, float]] = []
        self.error: str | None = None
        try:
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError as exc:
            self.proc, self.error = None, f"sampler did not start: {exc}"
            return
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            sample = parse_sample(line, time.time())
            if sample:
                self.samples.append(sample)

    def stop(self, linger: float) -> None:
        if self.proc is None:
            return
        time.sleep(linger)  # the samples of the last moments are still on their way
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc.returncode and not self.samples:
            self.error = f"sampler exited with status {self.proc.returncode} and no samples"
        self.thread.join(5)


def run(child: list[str], sampler_argv: list[str], threshold: float = 90, linger: float = 0.3) -> dict:
    """Run ``child`` with the sampler beside it; the summary (see the module docstring)."""
    def on_term(signum, _frame):
        raise InterruptedError(signal.Signals(signum).name)

    # Before the command starts: a stop (SIGTERM) must always end in a summary, never halfway.
    previous = signal.signal(signal.SIGTERM, on_term)
    # Started from a background job of a non-interactive shell (nohup ... &, a CI runner), we and
    # so the command would inherit SIGINT ignored, and the SIGINT that lets it clean up on a stop
    # would do nothing: take SIGINT back, which the command then inherits as the default.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler) or signal.SIG_DFL  # None: set in C
    sampler = Sampler(sampler_argv)
    markers: dict[str, float] = {}
    began = time.time()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # markers must arrive when printed, not at exit
    # stderr joins stdout so that a marker is seen whichever stream it is written to. A session
    # of its own lets a stop (the timeout in bench/gpu.sh) take the child's own children with it.
    try:
        proc = subprocess.Popen(child, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                env=env, start_new_session=True)
    except OSError:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
        sampler.stop(0)
        raise

    def relay() -> None:
        for line in proc.stdout:
            now = time.time()
            if START in line:
                markers.setdefault("start", now)
            elif END in line and "start" in markers:
                markers.setdefault("end", now)
            sys.stdout.write(line)
            sys.stdout.flush()

    reader = threading.Thread(target=relay, daemon=True)
    stopped = None
    try:
        # Started here, inside the try: a stop sent once a marker was relayed is always caught.
        reader.start()
        rc = proc.wait()
    except (InterruptedError, KeyboardInterrupt) as exc:
        stopped = str(exc) or "SIGINT"
        # `timeout` signals us twice (us, then our process group): one stop is enough.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # SIGINT first: a Python child gets KeyboardInterrupt and runs its clean-up (bench/pipeline.py
        # stops its workers); within the 10 s that `timeout -k 10` in bench/gpu.sh leaves us.
        try:
            os.killpg(proc.pid, signal.SIGINT)
            rc = proc.wait(6)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
        except ProcessLookupError:  # it had just exited by itself
            rc = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    ended = time.time()
    reader.join(5)  # a grandchild still holding the pipe must not hang us
    sampler.stop(linger)

    if "start" in markers and "end" in markers:
        window, kind = (markers["start"], markers["end"]), f"{START} to {END}"
    elif "start" in markers:
        window, kind = (markers["start"], ended), f"{START} to exit (no {END})"
    else:
        window, kind = (began, ended), f"whole run, start-up included (no {START}/{END} markers)"
    summary = summarize(sampler.samples, window, threshold)
    problems = [p for p in (sampler.error,
                            f"stopped by {stopped}" if stopped else None,
                            (f"command exited with status {rc}" if rc > 0
                             else f"command killed by {signal.Signals(-rc).name}" if rc < 0 else None),
                            "no samples in the window" if not (sampler.error or summary["samples"]) else None)
                if p]
    summary.update(window=kind, window_s=round(window[1] - window[0], 2), threshold=threshold, child_rc=rc,
                   sampler=shlex.join(sampler_argv), valid=not problems and summary["samples"] > 0,
                   note="; ".join(problems + [kind]))
    return summary


def human(summary: dict) -> str:
    if summary["mean_util"] is None:
        return f"GPU busy: not measured ({summary['note']})"
    return (f"GPU busy: {summary['mean_util']:.1f}% mean utilisation over {summary['window_s']:.1f} s "
            f"({summary['samples']} samples), {100 * summary['at_or_above_threshold']:.0f}% of samples "
            f">= {summary['threshold']:g}%; {summary['note']}")


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.exit("usage: gpu_busy.py [--sampler CMD] [--threshold N] [--json FILE] -- COMMAND [ARGS...]")
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sampler", help="sampler command line (default: nvidia-smi every --interval-ms)")
    parser.add_argument("--interval-ms", type=int, default=100)
    parser.add_argument("--threshold", type=float, default=90, help="utilisation %% that counts as busy")
    parser.add_argument("--json", help="also write the summary to this file")
    args = parser.parse_args(argv[:split])
    sampler = shlex.split(args.sampler) if args.sampler else default_sampler(args.interval_ms)
    summary = run(argv[split + 1:], sampler, args.threshold)
    print("GPU-BUSY " + json.dumps(summary))
    print(human(summary))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    rc = summary["child_rc"]
    sys.exit(rc if rc >= 0 else 128 - rc)  # killed by signal N: 128 + N, as a shell reports it


if __name__ == "__main__":
    main()
