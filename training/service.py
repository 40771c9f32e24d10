"""Training runs as the queue sees them: create, run one segment, export.

A multi-day run must not hang on one broker message staying unacknowledged for days (Redis
redelivers after its visibility timeout), so a run is a chain of segments: each task claims
the run (with a lease it renews while training), resumes from the newest checkpoint, trains
``segment_iters`` iterations, and either finishes the run or puts it back to ``queued`` and
enqueues the next segment. A task killed mid-segment loses at most the iterations since the
last checkpoint: its message is redelivered (or the run resubmitted) and the next segment
resumes exactly where the checkpoint left off.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import torch

from db import runs
from db.models import TrainingRun
from db.session import session_scope
from training.config import TrainConfig, from_json
from upscaler.errors import ErrorCode, ModelFormatError, PermanentError
from upscaler.settings import get_settings
from upscaler.storage import Storage, safe_join
from workers.core.failure_policy import Kind, decide, describe

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 2.0


def create_run(config: TrainConfig, preset: str, name: str | None = None) -> uuid.UUID:
    settings = get_settings()
    run_id = uuid.uuid4()
    remote = safe_join(settings.training_checkpoint_prefix, str(run_id)) if settings.training_checkpoint_prefix else None
    with session_scope() as session:
        session.add(TrainingRun(id=run_id, name=name or f"{preset}-{run_id.hex[:8]}", preset=preset,
                                stage=config.stage, config=config.to_json(), total_iter=config.total_iter,
                                remote_prefix=remote))
    return run_id


def run_dir(run_id: uuid.UUID) -> Path:
    return get_settings().runs_dir / str(run_id)


def _checkpoint_ema(run_id: uuid.UUID) -> dict[str, torch.Tensor]:
    """The EMA generator in a run's newest checkpoint (from its checkpoint URI, local or S3)."""
    with session_scope() as session:
        run = session.get(TrainingRun, run_id)
        if run is None:
            raise PermanentError(f"no training run {run_id}", code=ErrorCode.unknown_run)
        uri = run.checkpoint_uri
    if not uri:
        raise PermanentError(f"training run {run_id} has no checkpoint yet", code=ErrorCode.no_checkpoint)
    data = Storage().get(uri, 1 << 40)
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)["net_g_ema"]


def initial_generator(config: TrainConfig) -> dict[str, torch.Tensor] | None:
    """Stage 1 starts from scratch or a pretrained model; stage 2 from stage 1's EMA generator."""
    source = config.init_from
    if not source:
        return None
    if source.startswith("run:"):
        return _checkpoint_ema(uuid.UUID(source[4:]))
    from upscaler.zoo.registry import ModelZoo

    settings = get_settings()
    info, state = ModelZoo(settings.models_dir, settings.model_store_uri).load(source)
    n = config.network
    expected = {"num_feat": n.num_feat, "num_block": n.num_block, "num_grow_ch": n.num_grow_ch, "scale": 4}
    if info.spec.arch != "RRDBNet" or any(info.spec.params.get(k) != v for k, v in expected.items()):
        raise ModelFormatError(f"init_from {source!r} is {info.spec.arch} {info.spec.params}, the run needs RRDBNet {expected}")
    return state


@dataclass(frozen=True)
class SegmentOutcome:
    """What one segment came to: 'skipped' (not claimable), 'continue' (more segments needed),
    'succeeded', 'failed', or 'retry' (released after a transient error: run again in
    ``retry_in`` seconds)."""

    outcome: str
    retry_in: float = 0.0


def run_segment(run_id: uuid.UUID, worker: str, retries: int = 0, allow_random_vgg: bool = False) -> SegmentOutcome:
    """Claim the run, train one segment, then finish it or release it. An error is decided as
    every job's is (workers/core/failure_policy.py), ``retries`` retries after the first try."""
    settings = get_settings()
    lease = settings.training_lease_seconds
    with session_scope() as session:
        run = runs.claim(session, run_id, worker, lease)
        if run is None:
            return SegmentOutcome("skipped")
        config, remote = from_json(run.config), run.remote_prefix
    try:
        from training.trainer import Trainer
        from upscaler.engine.devices import resolve_device

        if config.loss.perceptual_weight > 0 and not config.loss.vgg_weights:
            config.loss.vgg_weights = settings.vgg19_weights
        trainer = Trainer(config, run_dir(run_id), device=str(resolve_device(settings.training_device)),
                          remote_prefix=remote, init_generator=None, allow_random_vgg=allow_random_vgg)
        if not trainer.resume():
            init = initial_generator(config)
            if init is not None:
                trainer.net_g.load_state_dict(init)
                trainer.net_g_ema.load_state_dict(init)
        target = (trainer.iteration // config.segment_iters + 1) * config.segment_iters
        last_beat = [time.monotonic()]

        def on_step(iteration: int) -> None:
            if time.monotonic() - last_beat[0] >= HEARTBEAT_SECONDS:
                last_beat[0] = time.monotonic()
                with session_scope() as s:
                    if not runs.heartbeat(s, run_id, worker, lease):
                        raise PermanentError("the run was taken over or cancelled", code=ErrorCode.lost_lease)

        def on_progress(progress) -> None:
            from upscaler.monitoring import TRAINING_ITERATION, TRAINING_LOSS, TRAINING_METRIC

            TRAINING_ITERATION.labels(str(run_id)).set(progress.iteration)
            for name, value in progress.losses.items():
                TRAINING_LOSS.labels(str(run_id), name).set(value)
            for name, value in progress.metrics.items():
                TRAINING_METRIC.labels(str(run_id), name).set(value)
            with session_scope() as s:
                runs.heartbeat(s, run_id, worker, lease, iteration=progress.iteration, losses=progress.losses,
                               metrics=progress.metrics, checkpoint_uri=progress.checkpoint)
            log.info("run %s: iteration %d, %s, %s", run_id, progress.iteration, progress.losses, progress.metrics)

        trainer.train_until(target, on_progress, on_step)
    except Exception as exc:
        decision = decide(exc, retries, settings.transient_retries)
        with session_scope() as session:
            if decision.kind is Kind.retry:
                runs.release(session, run_id, worker)
                log.warning("training run %s: transient error, released: %s", run_id, exc)
                return SegmentOutcome("retry", decision.retry_in)
            if decision.code is ErrorCode.internal_error:
                log.error("training run %s: unexpected error", run_id, exc_info=exc)
            runs.fail(session, run_id, worker, decision.code, describe(exc, decision, retries))
        return SegmentOutcome("failed")
    with session_scope() as session:
        if trainer.iteration >= config.total_iter:
            runs.succeed(session, run_id, worker)
            return SegmentOutcome("succeeded")
        runs.release(session, run_id, worker)
    return SegmentOutcome("continue")


def export_run(run_id: uuid.UUID, name: str, description: str = "") -> dict:
    """Publish a run's EMA generator as a model in the zoo (and the shared store, if configured)."""
    from upscaler.zoo.archs import ArchSpec
    from upscaler.zoo.registry import ModelZoo, validate_name

    settings = get_settings()
    state = _checkpoint_ema(run_id)
    with session_scope() as session:
        run = session.get(TrainingRun, run_id)
        n = from_json(run.config).network
        iteration = run.iteration
    spec = ArchSpec("RRDBNet", {"num_in_ch": 3, "num_out_ch": 3, "scale": 4, "num_feat": n.num_feat,
                                "num_block": n.num_block, "num_grow_ch": n.num_grow_ch}, 4)
    zoo = ModelZoo(settings.models_dir, settings.model_store_uri)
    info = zoo._store(validate_name(name), spec, state, f"run:{run_id}@{iteration}",
                      description or f"EMA generator of training run {run_id} at iteration {iteration}")
    published = zoo.publish(name) if settings.model_store_uri else None
    with session_scope() as session:
        session.get(TrainingRun, run_id).exported_model = name
    return {"name": name, "sha256": info.sha256, "weights": str(info.weights_path), "published": published,
            "iteration": iteration}
