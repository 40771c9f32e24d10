"""``profiles set --model`` names a model every job of the category will ask its worker for: it
is checked against what workers can load (built-in models, the model store) before it is saved.

Real PostgreSQL for the profiles, moto for the model store, the command line as a subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.services import run_cli, service_env
from upscaler.zoo.registry import ModelZoo

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUCKET = "model-store"


def profile(env: dict, name: str) -> dict:
    return json.loads(run_cli(["profiles", "show", name, "--json"], env).stdout)


def test_a_model_no_worker_can_load_is_refused(pg_url: str, redis_url: str, s3, s3_endpoint: str,
                                               tiny_srvgg: Path, tmp_path: Path) -> None:
    s3.create_bucket(Bucket=BUCKET)
    store = f"s3://{BUCKET}/models/"
    env = service_env(tmp_path / "operator", database_url=pg_url, broker_url=redis_url, s3_endpoint_url=s3_endpoint,
                      model_store_uri=store)
    assert run_cli(["db", "upgrade"], env).returncode == 0
    before = profile(env, "wood")

    for model, reason in [("nonesuch", f"model 'nonesuch' is not in the model store {store}"),
                          (str(tiny_srvgg), "is a file on this machine, which workers elsewhere cannot read")]:
        refused = run_cli(["profiles", "set", "wood", "--model", model], env)
        said = " ".join(refused.stderr.split())
        assert refused.returncode == 1 and reason in said, refused.stderr
        assert "Traceback" not in refused.stderr
        assert profile(env, "wood") == before  # nothing saved

    # Imported and published: every worker can fetch it from the store, so it is accepted.
    zoo = ModelZoo(tmp_path / "operator" / "models", store)
    zoo.import_file(tiny_srvgg, "tiny-published")
    import os

    os.environ["UPSCALER_S3_ENDPOINT_URL"] = s3_endpoint
    try:
        from upscaler.settings import get_settings

        get_settings.cache_clear()
        zoo.publish("tiny-published")
    finally:
        del os.environ["UPSCALER_S3_ENDPOINT_URL"]
        get_settings.cache_clear()
    accepted = run_cli(["profiles", "set", "wood", "--model", "tiny-published"], env)
    assert accepted.returncode == 0, accepted.stderr
    assert profile(env, "wood")["model"] == "tiny-published"
    built_in = run_cli(["profiles", "set", "stone", "--model", "realesr-animevideov3"], env)
    assert built_in.returncode == 0, built_in.stderr
