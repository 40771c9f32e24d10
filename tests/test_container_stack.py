"""The images built and the compose stack run for real, with podman (deploy/verify.sh), and the
Kubernetes manifests checked against the images that run built. Skipped, with the reason, where
containers cannot run (verify.sh --preflight exits 3)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

pytestmark = [pytest.mark.container, pytest.mark.slow]

DEPLOY = REPO / "deploy"
VERIFY = DEPLOY / "verify.sh"
# A run from nothing (no base, stand-in or project image, no wheelhouse) builds every layer; the
# limit leaves room for that on a busy two-core machine.
VERIFY_TIMEOUT = 1800


def run_verify(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VERIFY), *args], capture_output=True, text=True, timeout=VERIFY_TIMEOUT,
                          env=os.environ | (env or {}))


@pytest.fixture(scope="module")
def containers_run() -> None:
    preflight = run_verify("--preflight")
    if preflight.returncode == 3:
        pytest.skip(preflight.stderr.strip().splitlines()[-1])
    assert preflight.returncode == 0, preflight.stderr


@pytest.fixture(scope="module")
def verified(containers_run: None) -> subprocess.CompletedProcess[str]:
    """One whole run of deploy/verify.sh: the images are built once, here, for every test below."""
    return run_verify()


def test_verify_builds_the_images_and_proves_the_stack(verified: subprocess.CompletedProcess[str]) -> None:
    print(verified.stderr)   # the run's phases, timings and image sizes, for the test log
    assert verified.returncode == 0, verified.stderr[-8000:]
    log = verified.stderr
    for proof in ("database at revision", "batch ", "Flower: 401 without the password, both workers listed with it",
                  "upscaler-verify_gpu-worker_1: running, healthy", "upscaler-verify_flower_1: running, healthy",
                  "tearing the stack down", "verified:"):
        assert proof in log, proof


def inspect_image(image: str) -> dict:
    """podman's description of an image: Config (entry point, ports, user) and Healthcheck."""
    inspected = subprocess.run(["podman", "image", "inspect", image], capture_output=True, text=True,
                               env=os.environ | {"CONTAINERS_CONF": str(DEPLOY / "verify" / "containers.conf")})
    assert inspected.returncode == 0, inspected.stderr
    return json.loads(inspected.stdout)[0]


def seconds(duration_ns: int) -> int:
    return duration_ns // 1_000_000_000


def probe_of(healthcheck: dict) -> dict:
    """The Kubernetes probe that runs an image's HEALTHCHECK as the container engine would."""
    kind, *test = healthcheck["Test"]
    command = test if kind == "CMD" else ["/bin/sh", "-c", test[0]]
    probe = {"exec": {"command": command}, "periodSeconds": seconds(healthcheck["Interval"]),
             "timeoutSeconds": seconds(healthcheck["Timeout"]), "failureThreshold": healthcheck["Retries"]}
    if healthcheck.get("StartPeriod"):
        probe["initialDelaySeconds"] = seconds(healthcheck["StartPeriod"])
    return probe


def test_kubernetes_manifests_match_the_built_images(verified: subprocess.CompletedProcess[str]) -> None:
    assert verified.returncode == 0, "deploy/verify.sh failed: see the test above"
    images = {name: inspect_image(f"localhost/{name}") for name in
              ("material-upscaler:latest", "material-upscaler-worker:latest")}
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "upscaler.yaml").read_text()) if d]
    checked = 0
    for doc in (d for d in docs if "template" in d["spec"]):
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"]:
            image = images[container["image"]]
            config = image["Config"]
            where = f"{doc['metadata']['name']}/{container['name']}"
            # The image's entry point runs: the manifest gives only its arguments.
            assert "command" not in container and config["Entrypoint"] == ["upscaler"], where
            exposed = {int(port.split("/")[0]) for port in config.get("ExposedPorts", {})}
            assert {p["containerPort"] for p in container.get("ports", [])} <= exposed, where
            # The pod runs as the image's own non-root user.
            security = pod.get("securityContext", {})
            assert security.get("runAsNonRoot") is True and security.get("runAsUser") == int(config["User"]), where
            if doc["kind"] == "Deployment":   # a long-running container: the image's health check
                assert container.get("livenessProbe") == probe_of(image["Healthcheck"]), where
            checked += 1
    assert checked == 5


def test_verify_names_a_package_the_image_leaves_out(verified: subprocess.CompletedProcess[str], tmp_path: Path) -> None:
    """The CLI package dropped from the CPU image again: the build stops and says which package."""
    assert verified.returncode == 0, "deploy/verify.sh failed: see the test above"
    dockerfile = tmp_path / "Dockerfile.cpu"
    text = (DEPLOY / "Dockerfile.cpu").read_text()
    assert "COPY cli ./cli\n" in text
    dockerfile.write_text(text.replace("COPY cli ./cli\n", ""))
    result = run_verify(env={"VERIFY_CPU_DOCKERFILE": str(dockerfile)})
    assert result.returncode == 1
    assert ("pyproject.toml installs the packages ['cli'], which this Dockerfile does not copy: "
            "add a COPY line for each") in result.stderr, result.stderr[-4000:]
    assert "building localhost/material-upscaler:latest from" in result.stderr
