"""Flower's basic auth: one account, exactly as configured.

Flower reads ``--basic_auth`` as a comma-separated list of accounts, so a comma inside
``UPSCALER_FLOWER_BASIC_AUTH`` (``ops:Pa,x:y``) would silently add a second account ``x:y``.
Such a value is refused with a clear error; a real Flower process started with a colon in its
password lets that account in and nobody else. ``/healthcheck`` and ``/metrics`` are open on
purpose (load balancers and Prometheus scrape them; they carry counts and task names, never
arguments); the UI and the API are not.
"""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.services import BIN, Process, free_port, run_cli, service_env


@pytest.mark.parametrize("credentials", ["ops:Pa,x:y", "ops,x:y", "ops:secret,"])
def test_a_comma_in_the_flower_credentials_is_refused(credentials: str, tmp_path: Path) -> None:
    env = service_env(tmp_path, broker_url=f"redis://127.0.0.1:{free_port()}/0", flower_basic_auth=credentials)
    # A Flower that starts instead of refusing runs until the time-out fails the test.
    refused = run_cli(["flower", "--port", str(free_port())], env, timeout=60)
    assert refused.returncode == 2
    said = " ".join(refused.stderr.split())
    assert "UPSCALER_FLOWER_BASIC_AUTH must not contain a comma" in said
    assert "Pa,x" not in refused.stderr and "secret" not in refused.stderr  # the password is not echoed


def status_of(url: str, credentials: str | None = None) -> int:
    request = urllib.request.Request(url)
    if credentials is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.integration
@pytest.mark.slow
def test_flower_lets_in_its_one_account_and_leaves_health_and_metrics_open(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = service_env(tmp_path, broker_url=redis_url, flower_basic_auth="ops:Pa:ss")
    flower = Process([str(BIN / "upscaler"), "flower", "--port", str(port)], env, tmp_path / "flower.log")
    try:
        flower.wait_for_output("Visit me", timeout=60)
        base = f"http://127.0.0.1:{port}"
        assert status_of(f"{base}/api/workers", "ops:Pa:ss") == 200
        for wrong in (None, "ops:Pa", "x:y", "ops:Pa:ss,x:y"):
            assert status_of(f"{base}/api/workers", wrong) == 401, wrong
            assert status_of(f"{base}/", wrong) == 401, wrong
        assert status_of(f"{base}/healthcheck") == 200
        assert status_of(f"{base}/metrics") == 200
    finally:
        flower.stop()
