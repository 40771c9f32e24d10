"""S3 faults between the workers and the bucket: throttling and slow answers are retried with
backoff and jitter; a missing object, access denied or a missing bucket fail their own job."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.faulty_s3 import FaultyS3, Rules
from tests.support import texture
from upscaler.imageio import encode

COMPACT = "realesr-animevideov3"


def test_s3_faults_are_retried_or_fail_clearly(s3, s3_endpoint: str, tmp_path: Path, monkeypatch) -> None:
    from upscaler.settings import get_settings

    s3.create_bucket(Bucket="faulty")
    names = ["a.png", "b.png", "slow-one.png", "forbidden/c.png", "gone.png"]
    for seed, name in enumerate(names):
        s3.put_object(Bucket="faulty", Key=f"in/{name}", Body=encode(texture(8, 10, seed=seed), "png"))
    manifest = tmp_path / "m.csv"
    manifest.write_text("source_uri\ns3://no-such-bucket/in/x.png\n")

    with FaultyS3(s3_endpoint, Rules(throttle_times=0)) as proxy:
        for key, value in {"UPSCALER_S3_ENDPOINT_URL": proxy.url, "UPSCALER_DATABASE_URL": f"sqlite:///{tmp_path / 'j.db'}",
                           "UPSCALER_S3_READ_TIMEOUT": "1", "UPSCALER_S3_MAX_ATTEMPTS": "3"}.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        try:
            from db.migrate import upgrade
            from db.models import Job
            from db.session import session_scope
            from producer.submit import create_batch
            from workers.core import runtime
            from workers.core.dispatch import run_in_process

            runtime._storage_for.cache_clear()
            upgrade()
            batch = create_batch(["s3://faulty/in/"], "s3://faulty/out/", manifest=manifest, model=COMPACT)
            assert batch.created == 6
            s3.delete_object(Bucket="faulty", Key="in/gone.png")   # vanished between listing and work
            proxy.rules.throttle_times = 2                           # from now on: two 503s per object first
            run_in_process(batch.job_ids)
            with session_scope() as session:
                jobs = {j.source_uri: j for j in session.scalars(select(Job))}
        finally:
            runtime._storage_for.cache_clear()
            get_settings.cache_clear()

    ok = [jobs[f"s3://faulty/in/{n}"] for n in ("a.png", "b.png", "slow-one.png")]
    assert all(j.status.value == "succeeded" for j in ok), [j.error_message for j in ok]
    assert proxy.rules.injected["throttled"] >= 6 and proxy.rules.injected["slowed"] == 1
    forbidden = jobs["s3://faulty/in/forbidden/c.png"]
    assert forbidden.status.value == "failed" and forbidden.error_code == "storage_error"
    assert "AccessDenied" in forbidden.error_message
    gone = jobs["s3://faulty/in/gone.png"]
    assert gone.status.value == "failed" and gone.error_code == "source_missing" and "no such object" in gone.error_message
    nobucket = jobs["s3://no-such-bucket/in/x.png"]
    assert nobucket.status.value == "failed" and "NoSuchBucket" in nobucket.error_message
    assert {j.attempts for j in jobs.values()} == {1}  # botocore's own retries absorbed the 503s
    outputs = s3.list_objects_v2(Bucket="faulty", Prefix="out/")["Contents"]
    assert sorted(o["Key"] for o in outputs) == ["out/a.png", "out/b.png", "out/slow-one.png"]
