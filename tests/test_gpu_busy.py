"""bench/gpu_busy.py without a GPU: a fake sampler script stands in for nvidia-smi."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import gpu_busy

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_busy.py"
# Reports 100 while the flag file exists, else 0, stamped like nvidia-smi's timestamp field.
FAKE_SAMPLER = """
import os, sys, time
from datetime import datetime
while True:
    stamp = datetime.now().strftime("%Y/%m/%d %H:%M:%S.%f")[:-3]
    print(stamp + ", " + ("100" if os.path.exists(sys.argv[1]) else "0"), flush=True)
    time.sleep(0.02)
"""
# Busy only between its markers: the flag appears before BENCH-START and goes after BENCH-END.
CHILD = """
import pathlib, sys, time
flag = pathlib.Path(sys.argv[1])
print("loading the model", flush=True); time.sleep(0.6)
flag.touch(); print("BENCH-START", flush=True); time.sleep(0.6)
print("BENCH-END", flush=True); time.sleep(0.3); flag.unlink(); time.sleep(0.6)
sys.exit(int(sys.argv[2]))
"""


def fake(tmp_path: Path, markers: bool = True, rc: int = 0) -> tuple[list[str], list[str]]:
    (tmp_path / "sampler.py").write_text(FAKE_SAMPLER)
    child = CHILD if markers else CHILD.replace("BENCH-", "PHASE-")
    (tmp_path / "child.py").write_text(child)
    flag = str(tmp_path / "busy")
    sampler = [sys.executable, str(tmp_path / "sampler.py"), flag]
    return sampler, [sys.executable, str(tmp_path / "child.py"), flag, str(rc)]


def test_window_is_between_the_markers(tmp_path):
    sampler, child = fake(tmp_path)
    summary = gpu_busy.run(child, sampler, threshold=90)
    assert summary["window"] == "BENCH-START to BENCH-END" and summary["valid"]
    assert summary["samples"] >= 5
    assert summary["mean_util"] == 100.0 and summary["at_or_above_threshold"] == 1.0
    assert 0.5 <= summary["window_s"] <= 3


def test_without_markers_the_whole_run_counts_and_says_so(tmp_path):
    sampler, child = fake(tmp_path, markers=False)
    summary = gpu_busy.run(child, sampler)
    assert summary["window"].startswith("whole run")
    assert 20 < summary["mean_util"] < 80  # start-up and the tail are idle in this run
    assert "no BENCH-START/BENCH-END markers" in summary["note"]


def test_cli_propagates_the_exit_status_and_writes_json(tmp_path):
    sampler, child = fake(tmp_path, rc=3)
    out = tmp_path / "busy.json"
    command = [sys.executable, str(SCRIPT), "--sampler", " ".join(sampler), "--json", str(out), "--", *child]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "loading the model" in proc.stdout  # the command's own output is passed through
    summary = json.loads(out.read_text())
    assert summary["child_rc"] == 3 and not summary["valid"]
    assert "command exited with status 3" in summary["note"]
    assert "GPU busy: 100.0% mean utilisation" in proc.stdout


def test_a_missing_sampler_is_reported_not_fatal(tmp_path):
    _, child = fake(tmp_path)
    summary = gpu_busy.run(child, ["/nonexistent/nvidia-smi"])
    assert summary["child_rc"] == 0 and summary["mean_util"] is None and not summary["valid"]
    assert "sampler did not start" in summary["note"]


def test_parse_and_summarize():
    assert gpu_busy.parse_sample("[N/A]\n", 5.0) is None
    assert gpu_busy.parse_sample("87\n", 5.0) == (5.0, 87.0)
    when, value = gpu_busy.parse_sample("2026/01/02 03:04:05.250, 42\n", 5.0)
    assert value == 42.0 and when != 5.0
    samples = [(0.0, 0.0), (1.0, 100.0), (2.0, 80.0), (3.0, 0.0)]
    summary = gpu_busy.summarize(samples, (1.0, 2.0), threshold=90)
    assert summary == {"samples": 2, "mean_util": 90.0, "busy_fraction": 0.9, "at_or_above_threshold": 0.5}


def test_a_stop_interrupts_the_command_and_still_reports(tmp_path):
    sampler, _ = fake(tmp_path)
    # The marker is printed inside the try: the stop it prompts always finds the clean-up in place
    # (printed before it, a stop under load could land before the try and skip the clean-up).
    (tmp_path / "slow.py").write_text(
        "import time\ntry:\n    print('BENCH-START', flush=True)\n    time.sleep(60)\n"
        "except KeyboardInterrupt:\n    print('cleaned up', flush=True)\n    raise\n")
    out = tmp_path / "busy.json"
    command = [sys.executable, str(SCRIPT), "--sampler", " ".join(sampler), "--json", str(out), "--",
               sys.executable, str(tmp_path / "slow.py")]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert "BENCH-START" in proc.stdout.readline()
    proc.terminate()  # what `timeout` does
    rest = proc.stdout.read()
    assert proc.wait(30) == 128 + 2  # the command died of the SIGINT it was sent
    assert "cleaned up" in rest  # SIGINT first, so a Python command runs its clean-up
    summary = json.loads(out.read_text())
    assert "stopped by SIGTERM" in summary["note"] and not summary["valid"]
    assert summary["window"] == "BENCH-START to exit (no BENCH-END)"
