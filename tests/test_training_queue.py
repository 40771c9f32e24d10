"""Training through the queue for real: Redis, PostgreSQL, moto S3, `upscaler worker --queues
training` processes; stage 1 -> export -> stage 2 -> export -> upscaling with the new model;
and a worker killed with SIGKILL in the middle of stage 2."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import pytest
import torch
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from db.models import JobStatus, TrainingRun
from tests.services import run_cli, service_env, start_worker, wait_for
from tests.support import texture
from tests.training_helpers import random_vgg_file, source_images, tiny_overrides

BUCKET = "training-bucket"


@pytest.fixture
def training_env(tmp_path: Path, pg_url: str, redis_url: str, s3, s3_endpoint: str, isolated_data_dir: Path):
    s3.create_bucket(Bucket=BUCKET)
    for path in source_images(tmp_path / "src").iterdir():
        s3.put_object(Bucket=BUCKET, Key=f"materials/{path.name}", Body=path.read_bytes())
    data_dir = tmp_path / "worker-data"
    (data_dir / "models").mkdir(parents=True)
    for model in (isolated_data_dir / "models").glob("realesr-animevideov3.*"):
        (data_dir / "models" / model.name).write_bytes(model.read_bytes())
    env = service_env(data_dir, database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      training_checkpoint_prefix=f"s3://{BUCKET}/checkpoints/",
                      model_store_uri=f"s3://{BUCKET}/models/", training_lease_seconds="4",
                      visibility_timeout="6", training_device="cpu")
    assert run_cli(["db", "upgrade"], env).returncode == 0
    prepared = run_cli(["train", "prepare", f"s3://{BUCKET}/materials/", "-o", str(tmp_path / "dataset"),
                        "--crop", "96", "--step", "64", "--json"], env)
    assert prepared.returncode == 0, prepared.stderr
    report = json.loads(prepared.stdout)
    assert report["kept"] == 3 and sorted(report["removed"]) == ["plain beige.png", "smooth gradient.jpg"]
    workers = []
    yield env, tmp_path / "dataset", workers
    for worker in workers:
        worker.stop()


def write_config(path: Path, **overrides) -> Path:
    path.write_text(json.dumps(overrides))
    return path


def submit(env, tmp_path: Path, stage: str, dataset: Path, config: dict, *extra: str) -> str:
    cfg = write_config(tmp_path / f"{stage}-{len(os.listdir(tmp_path))}.json", **config)
    result = run_cli(["train", "submit", "--stage", stage, "--data", str(dataset), "--config", str(cfg), *extra, "--json"], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["run_id"]


def run_row(pg_url: str, run_id: str) -> TrainingRun:
    with Session(create_engine(pg_url)) as session:
        return session.get(TrainingRun, __import__("uuid").UUID(run_id))


def wait_finished(pg_url: str, run_id: str, timeout: float = 240) -> TrainingRun:
    return wait_for(lambda: (r := run_row(pg_url, run_id)).status in (JobStatus.succeeded, JobStatus.failed) and r,
                    timeout, f"training run {run_id}", interval=0.5)


def test_two_stages_export_and_upscale_with_the_new_model(training_env, tmp_path: Path, pg_url: str, s3) -> None:
    env, dataset, workers = training_env
    workers.append(start_worker(env, tmp_path, queues="training,gpu"))
    stage1 = submit(env, tmp_path, "esrnet", dataset, tiny_overrides(4, 2, 2))
    run1 = wait_finished(pg_url, stage1)
    assert run1.status == JobStatus.succeeded, run1.error_message
    assert run1.iteration == 4 and run1.segments == 2 and "l_pix" in run1.losses and "psnr" in run1.metrics
    assert run1.checkpoint_uri == f"s3://{BUCKET}/checkpoints/{stage1}/ckpt_000000004.pth"
    assert s3.head_object(Bucket=BUCKET, Key=f"checkpoints/{stage1}/ckpt_000000004.pth")["ContentLength"] > 0
    exported1 = run_cli(["train", "export", stage1, "--name", "tiny-esrnet", "--json"], env)
    assert exported1.returncode == 0, exported1.stderr

    vgg = random_vgg_file(tmp_path / "vgg.pth")
    stage2 = submit(env, tmp_path, "aesrgan-multi", dataset,
                    tiny_overrides(4, 2, 4, loss={"vgg_weights": str(vgg)}), "--init-from", f"run:{stage1}")
    run2 = wait_finished(pg_url, stage2)
    assert run2.status == JobStatus.succeeded, run2.error_message
    assert {"l_pix", "l_percep", "l_g_gan", "l_d_real", "l_d_fake"} <= set(run2.losses)
    assert run2.config["init_from"] == f"run:{stage1}"
    exported = json.loads(run_cli(["train", "export", stage2, "--name", "tiny-aesrgan", "--json"], env).stdout)
    assert exported["published"] == f"s3://{BUCKET}/models/tiny-aesrgan.json"

    # `upscaler train compare` shows what differs between the two stages.
    compared = json.loads(run_cli(["train", "compare", stage1, stage2, "--json"], env).stdout)
    assert {"stage", "loss.gan_weight", "init_from"} <= {d["key"] for d in compared["config_differences"]}

    # A fresh machine (empty data dir) fetches the exported model from the store and upscales with it.
    fresh = dict(env, UPSCALER_DATA_DIR=str(tmp_path / "fresh-laptop"))
    image = tmp_path / "swatch.png"
    cv2.imwrite(str(image), texture(20, 24, seed=3))
    direct = run_cli(["upscale", str(image), "-o", str(tmp_path / "direct"), "--model", "tiny-aesrgan"], fresh)
    assert direct.returncode == 0, direct.stderr
    assert cv2.imread(str(tmp_path / "direct" / "swatch.png")).shape == (80, 96, 3)

    # ... and through the queue, on the gpu queue of the same worker.
    s3.put_object(Bucket=BUCKET, Key="inbox/swatch.png", Body=image.read_bytes())
    queued = run_cli(["submit", f"s3://{BUCKET}/inbox/", "--output", f"s3://{BUCKET}/upscaled/",
                      "--model", "tiny-aesrgan", "--wait", "--json"], env)
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["summary"]["counts"]["succeeded"] == 1
    assert s3.head_object(Bucket=BUCKET, Key="upscaled/swatch.png")["Metadata"]["model"] == "tiny-aesrgan"


def test_sigkill_mid_stage_two_resumes_exactly(training_env, tmp_path: Path, pg_url: str, monkeypatch) -> None:
    env, dataset, workers = training_env
    workers.append(start_worker(env, tmp_path, queues="training", name="first@localhost"))
    stage1 = submit(env, tmp_path, "esrnet", dataset, tiny_overrides(2, 2, 2))
    assert wait_finished(pg_url, stage1).status == JobStatus.succeeded

    vgg = random_vgg_file(tmp_path / "vgg.pth")
    config = tiny_overrides(24, 2, 6, loss={"vgg_weights": str(vgg)})
    stage2 = submit(env, tmp_path, "aesrgan-multi", dataset, config, "--init-from", f"run:{stage1}")
    wait_for(lambda: run_row(pg_url, stage2).iteration >= 8, 120, "stage 2 past iteration 8", interval=0.1)
    workers[0].kill()  # SIGKILL to the whole worker: no goodbye, no ack, lease left to expire
    killed_at = run_row(pg_url, stage2)
    assert killed_at.status == JobStatus.running and killed_at.iteration < 24

    workers.append(start_worker(env, tmp_path, queues="training", name="second@localhost"))
    run2 = wait_finished(pg_url, stage2, timeout=300)
    assert run2.status == JobStatus.succeeded, run2.error_message
    assert run2.iteration == 24 and run2.worker.startswith("second@")

    # The same run without the kill, in this process, from the same stage-1 weights: identical.
    for key, value in env.items():
        if key.startswith("UPSCALER_") or key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    from upscaler.settings import get_settings

    get_settings.cache_clear()
    try:
        from training.config import preset
        from training.service import _checkpoint_ema
        from training.trainer import Trainer

        resolved = preset("aesrgan-multi", {**config, "data": str(dataset.resolve()), "init_from": f"run:{stage1}"})
        reference = Trainer(resolved, tmp_path / "reference")
        init = _checkpoint_ema(__import__("uuid").UUID(stage1))
        reference.net_g.load_state_dict(init)
        reference.net_g_ema.load_state_dict(init)
        reference.train_until(24)
        final = torch.load(tmp_path / "worker-data" / "runs" / stage2 / "checkpoints" / "ckpt_000000024.pth",
                           weights_only=True)
        for name in ("net_g", "net_g_ema", "net_d"):
            ours = getattr(reference, name).state_dict() if name != "net_g_ema" else reference.net_g_ema.state_dict()
            for key, value in ours.items():
                assert torch.equal(value, final[name][key]), f"{name}.{key} differs"
    finally:
        get_settings.cache_clear()
