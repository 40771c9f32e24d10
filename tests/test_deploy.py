"""deploy/: the compose file, Kubernetes manifests, Dockerfiles and systemd units are checked
against the code (commands, settings), and the local production-like stack runs a batch."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import psycopg
import pytest
import requests
import yaml

from cli.main import app as cli
from tests.services import PG_DSN, free_port
from tests.support import REPO, texture
from upscaler.imageio import encode
from upscaler.settings import Settings

DEPLOY = REPO / "deploy"
OUR_IMAGES = {"material-upscaler:latest", "material-upscaler-worker:latest"}


def cli_commands() -> set[tuple[str, ...]]:
    """Every command path the `upscaler` CLI has: ("worker",), ("db", "upgrade"), ..."""
    import typer.main

    group = typer.main.get_command(cli)
    paths = set()
    for name, command in group.commands.items():
        paths.add((name,))
        for sub in getattr(command, "commands", {}):
            paths.add((name, sub))
    return paths


def assert_known_command(args: list[str]) -> None:
    commands = cli_commands()
    assert (args[0],) in commands, f"`upscaler {args[0]}` does not exist"
    if len(args) > 1 and not args[1].startswith("-") and (args[0], args[1]) not in commands:
        assert not any(path[0] == args[0] and len(path) == 2 for path in commands), f"`upscaler {args[0]} {args[1]}`?"


def env_example() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (DEPLOY / ".env.example").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    return {k: v for k, v in pairs}


def test_env_example_documents_real_settings() -> None:
    env = env_example()
    fields = {f"UPSCALER_{name.upper()}" for name in Settings.model_fields}
    ours = {k for k in env if k.startswith("UPSCALER_")}
    assert ours <= fields, f"not settings: {ours - fields}"
    documented = (DEPLOY / ".env.example").read_text()
    for key in env:  # every variable has a comment block above it or a section heading
        assert key in documented


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services, volumes = compose["services"], set(compose["volumes"])
    env = env_example()
    host_ports = []
    for name, service in services.items():
        assert "image" in service, name
        if service["image"] in OUR_IMAGES:
            assert service["env_file"] == ".env"
            assert_known_command(service["command"])
            dockerfile = DEPLOY.parent / service["build"]["context"].removeprefix("..").lstrip("/") / service["build"]["dockerfile"]
            assert (REPO / service["build"]["dockerfile"]).is_file() or dockerfile.is_file()
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in volumes, f"{name}: volume {volume} not declared"
        host_ports += [p.split(":")[0] for p in service.get("ports", [])]
        for ref in re.findall(r"\$\{(\w+)\}", json.dumps(service)):
            assert ref in env, f"{name} uses ${{{ref}}}, not in .env.example"
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    assert services["redis"]["command"][-2:] == ["--maxmemory-policy", "noeviction"] and "--appendonly" in services["redis"]["command"]
    gpu = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"] and gpu["count"] == 1
    assert services["flower"]["command"][0] == "flower" and "UPSCALER_FLOWER_BASIC_AUTH" in env
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("gpu-worker", "training-worker", "beat", "flower", "events"):
        assert services[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}


def test_kubernetes_manifests() -> None:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "upscaler.yaml").read_text()) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {"upscaler-gpu-worker", "upscaler-training-worker", "upscaler-beat", "upscaler-flower"}
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "Job"}
    for doc in (d for d in docs if "template" in d["spec"]):
        for container in doc["spec"]["template"]["spec"]["containers"]:
            assert container["image"] in OUR_IMAGES
            assert_known_command(container["args"])
        if doc["kind"] == "Deployment":
            assert doc["spec"]["selector"]["matchLabels"].items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    for name in ("upscaler-gpu-worker", "upscaler-training-worker"):
        limits = deployments[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 1
    assert deployments["upscaler-beat"]["spec"]["replicas"] == 1


def test_compiled_kernels_outlive_a_worker_restart() -> None:
    """torch.compile's cache directory (TORCHINDUCTOR_CACHE_DIR) is a volume wherever a GPU worker runs."""
    cache = env_example()["TORCHINDUCTOR_CACHE_DIR"]
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    assert any(v.split(":")[1] == cache for v in compose["services"]["gpu-worker"]["volumes"])
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "upscaler.yaml").read_text()) if d]
    pod = next(d for d in docs if d["metadata"]["name"] == "upscaler-gpu-worker")["spec"]["template"]["spec"]
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == cache)
    assert mount["name"] in {v["name"] for v in pod["volumes"]}
    unit = (DEPLOY / "systemd" / "upscaler-worker@.service").read_text()
    state = next(line for line in unit.splitlines() if line.startswith("StateDirectory="))
    assert cache.removeprefix("/var/lib/") in state.split("=", 1)[1].split()
    assert f"mkdir {cache}" in (DEPLOY / "Dockerfile.worker").read_text()   # the volume is created writable


def test_dockerfiles_pass_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    result = subprocess.run([str(hadolint), "--config", str(DEPLOY / ".hadolint.yaml"),
                             str(DEPLOY / "Dockerfile.worker"), str(DEPLOY / "Dockerfile.cpu")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    worker = (DEPLOY / "Dockerfile.worker").read_text()
    assert worker.startswith("#") and "ARG BASE_IMAGE=nvidia/cuda:" in worker and "USER 10001" in worker
    assert "HEALTHCHECK" in worker and "upscaler\", \"models\", \"import" not in worker and "RUN upscaler models import" in worker


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of Debian's systemd package"
    upscaler = str(Path(sys.executable).parent / "upscaler")
    units = []
    for unit in (DEPLOY / "systemd").glob("*.service"):
        text = unit.read_text().replace("/opt/upscaler/.venv/bin/upscaler", upscaler)
        name = unit.name.replace("@.service", "@0.service")
        (tmp_path / name).write_text(text)
        if "@" in unit.name:  # a template is verified as an instance
            (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / name))
    result = subprocess.run([analyze, "verify", *units], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    worker = (DEPLOY / "systemd" / "upscaler-worker@.service").read_text()
    assert "CUDA_VISIBLE_DEVICES=%i" in worker and "KillSignal=SIGTERM" in worker and "TimeoutStopSec=15min" in worker


@pytest.mark.integration
def test_local_stack_runs_a_batch(tmp_path: Path, isolated_data_dir: Path) -> None:
    ports = {"STACK_REDIS_PORT": free_port(), "STACK_S3_PORT": free_port(), "STACK_FLOWER_PORT": free_port(),
             "STACK_METRICS_PORT": free_port()}
    database = f"stack_{uuid.uuid4().hex[:8]}"
    stack_dir = tmp_path / "stack"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UPSCALER_")}
    env |= {k: str(v) for k, v in ports.items()} | {"STACK_DIR": str(stack_dir), "STACK_PG_DB": database}
    script = str(DEPLOY / "local-stack.sh")
    (stack_dir / "data").mkdir(parents=True)
    (isolated_data_dir / "models").mkdir(exist_ok=True)  # share the converted models
    (stack_dir / "data" / "models").symlink_to(isolated_data_dir / "models", target_is_directory=True)
    try:
        started = subprocess.run([script, "start"], env=env, capture_output=True, text=True, timeout=240)
        assert started.returncode == 0, started.stdout + started.stderr
        assert subprocess.run([script, "status"], env=env, capture_output=True, text=True).returncode == 0

        sourced = subprocess.run(["bash", "-c", f"source {stack_dir / 'env'} && env -0"], env=env,
                                 capture_output=True, text=True, check=True).stdout
        stack_env = dict(item.split("=", 1) for item in sourced.split("\0") if "=" in item)
        s3 = boto3.client("s3", endpoint_url=stack_env["UPSCALER_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="local", aws_secret_access_key="local")
        s3.create_bucket(Bucket="stack")
        for i in range(2):
            s3.put_object(Bucket="stack", Key=f"in/{i}.png", Body=encode(texture(12, 12, seed=i), "png"))
        upscaler = str(Path(sys.executable).parent / "upscaler")
        submitted = subprocess.run([upscaler, "submit", "s3://stack/in/", "--output", "s3://stack/out/",
                                    "--model", "realesr-animevideov3", "--wait", "--json"],
                                   env=stack_env, capture_output=True, text=True, timeout=180)
        assert submitted.returncode == 0, submitted.stderr
        batch = json.loads(submitted.stdout)["batch_id"]
        status = json.loads(subprocess.run([upscaler, "status", batch, "--json"], env=stack_env,
                                           capture_output=True, text=True, timeout=60).stdout)
        assert status["counts"]["succeeded"] == 2
        metrics = requests.get(f"http://127.0.0.1:{ports['STACK_METRICS_PORT']}/metrics", timeout=10).text
        assert re.search(r'upscaler_jobs_total\{error_code="",status="succeeded"\} 2\.0', metrics), metrics[:2000]
        assert "upscaler_job_stage_seconds_bucket" in metrics and "upscaler_model_load_seconds" in metrics
    finally:
        stopped = subprocess.run([script, "stop"], env=env, capture_output=True, text=True, timeout=120)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    assert stopped.returncode == 0
    assert subprocess.run([script, "status"], env=env, capture_output=True, text=True).returncode == 1
    assert not list(stack_dir.glob("*.pid"))


SHARED_START, SHARED_END = "# ---- shared:", "# ---- end of the shared part"


def shared_part(dockerfile: str) -> str:
    text = (DEPLOY / dockerfile).read_text()
    assert text.count(SHARED_START) == 1 and text.count(SHARED_END) == 1, dockerfile
    return text[text.index(SHARED_START):text.index(SHARED_END)]


def test_both_images_build_the_same_way_up_to_their_own_steps() -> None:
    """Built on one base, the two images share these layers (deploy/verify.sh builds both)."""
    assert shared_part("Dockerfile.cpu") == shared_part("Dockerfile.worker")


def test_images_copy_every_package_that_pyproject_installs() -> None:
    """The console script `upscaler` is cli.main:app: an image without cli/ stops at every start."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*.") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert project["project"]["scripts"]["upscaler"].split(".")[0] in packages
    copied = set(re.findall(r"^COPY (\w+) \./\1$", shared_part("Dockerfile.cpu"), re.MULTILINE))
    assert copied == packages
    for package in packages:   # whole top-level packages, not lists of their modules
        assert (REPO / package / "__init__.py").is_file()


def test_images_install_the_versions_pyproject_pins() -> None:
    """torch, torchvision and basicsr go in before the project (their build order), at its pins."""
    import tomllib

    pins = {d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"] if "==" in d}
    installed = set(re.findall(r"\b((?:torch|torchvision|basicsr)==[\d.]+)", shared_part("Dockerfile.cpu")))
    assert installed == {p for p in pins if p.split("==")[0] in ("torch", "torchvision", "basicsr")}


class _ComposeLoader(yaml.SafeLoader):
    """YAML with the compose override tags: !reset (drop the base file's value) and !override."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset",))
_ComposeLoader.add_multi_constructor("", lambda loader, suffix, node: (
    loader.construct_mapping(node, deep=True) if isinstance(node, yaml.MappingNode)
    else loader.construct_sequence(node, deep=True)))


def test_verify_override_covers_every_service_of_the_compose_file() -> None:
    """deploy/verify.sh runs every service on the host's network; a service the override forgot
    would start on a network of its own, unreachable from the others."""
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    override = yaml.load((DEPLOY / "verify" / "compose.override.yml").read_text(), Loader=_ComposeLoader)
    assert set(override["services"]) == set(compose["services"])
    for name, service in override["services"].items():
        assert service["network_mode"] == "host" and service["hostname"] == name, name
        if service.get("image", "").startswith("localhost/upscaler-verify/"):   # a stand-in
            assert compose["services"][name]["image"] not in OUR_IMAGES, name
        else:                                                                 # ours, as users run it
            assert "image" not in service and "volumes" not in service, name
            assert "command" not in service or name == "flower", name   # flower: its address and port
    for name in ("gpu-worker", "training-worker"):
        assert override["services"][name]["deploy"] == ("!reset",)
