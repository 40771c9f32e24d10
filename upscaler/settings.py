"""Typed settings read from ``UPSCALER_*`` environment variables (and an optional ``.env``).

One cached :func:`get_settings`; nothing is read at import time, so a worker process (or a
test) that changes the environment before first use sees its own values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import platformdirs
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Precision = Literal["auto", "fp32", "fp16", "bf16"]
DeviceName = Literal["auto", "cpu", "cuda"]
CpuRuntime = Literal["auto", "openvino", "torch"]

# 200 input pixels per tile, as the study ran; 12 pixels of context per side keeps the tiled
# x4plus output >= 45 dB from the whole-image output on the hardest texture we have (grass,
# ~47 dB in bf16) at ~5% more work than Real-ESRGAN's 10 (see bench/RESULTS.md).
DEFAULT_TILE = 200
DEFAULT_TILE_PAD = 12


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("material-upscaler", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="UPSCALER_", env_file=".env", extra="ignore")

    # Where local state lives: imported model files, the SQLite database of the embedded mode.
    data_dir: Path = Field(default_factory=_default_data_dir)
    # SQLAlchemy URL; None means a SQLite file inside data_dir (the embedded default).
    database_url: SecretStr | None = None
    # Seconds to wait for a database server to accept a connection (PostgreSQL's connect_timeout,
    # the whole handshake), and for one statement (statement_timeout; 0 = none). A server that
    # accepts and never answers fails fast with an error naming it, instead of hanging a command.
    database_connect_timeout: int = Field(10, ge=1)
    database_statement_timeout: int = Field(300, ge=0)
    # Celery broker URL; None means the in-process worker of the embedded default.
    broker_url: SecretStr | None = None
    # S3-compatible endpoint (MinIO, a test server); None means AWS's own endpoints.
    s3_endpoint_url: str | None = None
    s3_connect_timeout: float = 10.0    # seconds; timeouts are retried with backoff
    s3_read_timeout: float = 60.0
    s3_max_attempts: int = 5            # botocore's own retries (adaptive: backoff with jitter)

    # Engine defaults (every one can be overridden per call).
    tile: int = Field(DEFAULT_TILE, ge=0, description="tile edge in input pixels; 0 = whole image")
    tile_pad: int = Field(DEFAULT_TILE_PAD, ge=0, description="context pixels around each tile, blended")
    precision: Precision = "auto"
    device: DeviceName = "auto"
    # CUDA: replay each repeated tile-batch shape as one captured graph (engine/graphs.py).
    cuda_graphs: bool = True
    # Compile each network's forward with torch.compile while it loads (engine/compiled.py): off
    # until measured inside the engine; costs tens of seconds per model and process.
    torch_compile: bool = False
    # CUDA: RRDBNet's dense blocks on fused Triton kernels (engine/fused/): off until a GPU
    # benchmark measures them faster than the eager network (docs/engine.md).
    fused_kernels: bool = False
    # What runs the network on a CPU: OpenVINO where it imports (auto), or torch; GPUs run torch
    # (engine/backends.py).
    cpu_runtime: CpuRuntime = "auto"
    # Refuse inputs before decoding them: pixel counts from the header, bytes from the file.
    # 8000 x 8000 in, 32000 x 32000 out: the output array (3 GiB for 8-bit RGB) is the one
    # full-size thing a job holds; the PNG is encoded and uploaded from it in strips.
    max_input_pixels: int = Field(64_000_000, gt=0)
    max_output_pixels: int = Field(1_024_000_000, gt=0)
    max_input_bytes: int = Field(200 * 1024 * 1024, gt=0)

    # Queue behaviour. Seconds unless stated.
    job_soft_time_limit: int = Field(900, gt=0, description="a job past this fails with code 'timeout'")
    job_time_limit: int = Field(960, gt=0, description="a worker with a job stuck past this exits (to be restarted)")
    # Jobs one GPU worker process holds at once (threads): one on the device, the next one
    # downloading and decoding, the last one encoding and uploading. Memory grows with it.
    worker_jobs_in_flight: int = Field(3, ge=1, le=16)
    torch_threads: int = Field(0, ge=0, description="CPU threads for the network on a CPU (torch or OpenVINO); "
                               "0 = the runtime's default")
    png_threads: int = Field(0, ge=0, description="threads per PNG encode in a worker; 0 = up to 8 cores, but "
                             "where the network runs on the CPU the cores torch_threads leaves free, or 1")
    transient_retries: int = Field(5, ge=0, description="retries after storage/database hiccups")
    job_lease_seconds: int = Field(120, gt=0, description="a running job's lease, renewed every third of it")
    max_attempts: int = Field(3, gt=0, description="deliveries of a job that may die before it fails")
    sweep_every: int = Field(60, gt=0, description="seconds between sweeps for expired leases and lost messages")
    requeue_after: int = Field(300, gt=0, description="a queued job last sent this long ago whose message the broker lacks is re-sent")
    # For benchmarks and load tests only: workers skip the network (nearest-neighbour x4).
    engine_noop: bool = False
    engine_noop_delay_ms: int = Field(0, ge=0, description="load tests: each no-op upscale sleeps this long")
    # Redis re-delivers an unacknowledged message after this long: longer than any job.
    visibility_timeout: int = Field(3600, gt=0)
    # Flower's basic auth, "user:password"; Flower refuses to start without it unless told
    # (`upscaler flower --local-only`) that it only listens on localhost.
    flower_basic_auth: SecretStr | None = None

    # Intake.
    # Where manifest rows may read from: S3 prefixes and local folders, comma-separated. Empty
    # (the default): any source the credentials reach, as before; set it in production so that a
    # manifest cannot name another bucket or an absolute local path (docs/operations.md).
    source_roots: Annotated[list[str], NoDecode] = Field(default_factory=list)
    sqs_endpoint_url: str | None = None      # None: the S3 endpoint setting (one server in tests), else AWS
    nightly_cron: str = "0 2 * * *"          # minute hour day month weekday, UTC
    # A watch with an S3 event queue is listed in full at most this many days apart (its other
    # nights drain the queue): the net for events that never arrived.
    full_listing_days: float = Field(7, ge=0, description="days between full listings of a watch with an events queue")

    # Training.
    # Where checkpoints are mirrored (an S3 prefix or a folder); each run gets <prefix>/<run id>/.
    training_checkpoint_prefix: str | None = None
    # Where exported models are published (an S3 prefix or a folder) for workers to fetch.
    model_store_uri: str | None = None
    training_lease_seconds: int = Field(300, gt=0, description="a segment's lease; renewed as it trains")
    training_device: DeviceName = "auto"
    vgg19_weights: str = ""   # torchvision vgg19 .pth for the perceptual loss (never downloaded)

    cmyk_profile: str = ""    # ICC profile for CMYK images that carry none; "" = Ghostscript's, where installed
    metrics_port: int = Field(9808, ge=0, description="worker Prometheus metrics port; 0 = off")

    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    progress_every: float = Field(30.0, gt=0, description="seconds between plain progress lines when not on a terminal")

    @field_validator("source_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    def resolved_database_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'upscaler.sqlite3'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
