"""Prometheus metrics of a worker process, served on ``UPSCALER_METRICS_PORT`` (0 = off).

Queue-level numbers (messages waiting, per-task rates) come from Flower's own ``/metrics``.
"""

from __future__ import annotations

import logging
import sys

from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

JOBS = Counter("upscaler_jobs_total", "Jobs finished, by outcome and error code", ["status", "error_code"])
STAGE_SECONDS = Histogram("upscaler_job_stage_seconds", "Time per job stage", ["stage"],
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
MEGAPIXELS = Counter("upscaler_input_megapixels_total", "Input megapixels upscaled")
MODEL_LOAD_SECONDS = Gauge("upscaler_model_load_seconds", "Time to load (and calibrate) a model", ["model"])
GPU_MEMORY_BYTES = Gauge("upscaler_gpu_memory_bytes", "CUDA memory allocated by this process")
TRAINING_ITERATION = Gauge("upscaler_training_iteration", "Iteration of the run being trained", ["run"])
TRAINING_LOSS = Gauge("upscaler_training_loss", "Latest loss values of the run being trained", ["run", "loss"])
TRAINING_METRIC = Gauge("upscaler_training_validation", "Latest validation metrics", ["run", "metric"])


def serve(port: int) -> bool:
    if port <= 0:
        return False
    try:
        start_http_server(port)
    except OSError as exc:  # e.g. a second worker process on the same host and port
        log.warning("metrics not served on port %d: %s", port, exc)
        return False
    log.info("Prometheus metrics on :%d/metrics", port)
    return True


def record_job(status: str, error_code: str | None, timings_ms: dict[str, float], input_pixels: int | None) -> None:
    JOBS.labels(status, error_code or "").inc()
    for stage, ms in timings_ms.items():
        STAGE_SECONDS.labels(stage).observe(ms / 1000)
    if input_pixels:
        MEGAPIXELS.inc(input_pixels / 1e6)
    # Only where torch is loaded already: a process whose networks run on OpenVINO never imports
    # it (seconds), and has no CUDA memory to report.
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        GPU_MEMORY_BYTES.set(torch.cuda.memory_allocated())
