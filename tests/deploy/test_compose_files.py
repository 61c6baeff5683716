"""docker compose files: the compose spec (check-jsonschema), then the values the contract fixes."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

from deploy_files import COMPOSE_FILES, SERVICE_ENV, TFSERVING_CONFIGS, TRAINER_ENV, compose, run, tool


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_matches_compose_spec(compose_file):
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", compose_file)


def test_compose_service_env_is_the_contract():
    service = compose()["services"]["service"]
    assert set(service["environment"]) == SERVICE_ENV
    assert service["environment"]["SERVING_BACKEND"] == "tfserving"
    assert service["environment"]["TFSERVING_ADDRESS"] == "tfserving:8500"
    assert service["depends_on"]["tfserving"]["condition"] == "service_healthy"


def test_compose_trainers_share_env_and_volumes():
    services = compose()["services"]
    for name in ("init-model", "scheduler", "trainer"):
        assert TRAINER_ENV <= set(services[name]["environment"]), name
        assert any(str(v).startswith("models:/models") for v in services[name]["volumes"]), name
    assert "profiles" not in services["init-model"], "a plain `up` must get a model"
    assert "profiles" not in services["scheduler"]


def test_compose_trainer_is_a_gpu_profile():
    trainer = compose()["services"]["trainer"]
    assert trainer["profiles"] == ["train"]
    (device,) = trainer["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"]


def test_compose_scheduler_runs_schedule_on_retrain_cron():
    scheduler = compose()["services"]["scheduler"]
    assert scheduler["command"][0] == "schedule"
    assert "RETRAIN_CRON" in scheduler["environment"]
    assert scheduler["restart"] == "unless-stopped"


def test_compose_tfserving_uses_the_configs_k8s_deploys():
    tfserving = compose()["services"]["tfserving"]
    assert tfserving["image"].startswith("tensorflow/serving:")
    assert "./k8s/base/tfserving:/etc/tfserving:ro" in tfserving["volumes"]
    flags = dict(arg.split("=", 1) for arg in tfserving["command"])
    for flag in ("--monitoring_config_file", "--batching_parameters_file"):
        assert (TFSERVING_CONFIGS / Path(flags[flag]).name).is_file(), flag
    assert flags["--port"] == "8500" and flags["--rest_api_port"] == "8501"
    assert flags["--enable_batching"] == "true"


def test_compose_serves_the_model_the_trainer_publishes_and_the_service_asks_for():
    """One MODEL_NAME for all three: TF Serving's flags (its model config file could not take
    a variable), the service's environment and the trainer's publish.model_name."""
    services = compose()["services"]
    flags = dict(arg.split("=", 1) for arg in services["tfserving"]["command"])
    assert flags["--model_name"] == "${MODEL_NAME:-faces}"
    assert flags["--model_base_path"] == "/models/${MODEL_NAME:-faces}"
    assert "--model_config_file" not in flags
    for name in ("service", "init-model", "scheduler"):
        assert services[name]["environment"]["MODEL_NAME"] == "${MODEL_NAME:-faces}", name
    assert services["service"]["environment"]["MODEL_BASE_PATH"] == "/models"


def test_compose_publishes_the_api_on_loopback_unless_told():
    (port,) = compose()["services"]["service"]["ports"]
    assert port == "${FACEID_BIND:-127.0.0.1}:8000:8000"
    for name, service in compose()["services"].items():
        for published in service.get("ports", []):
            assert published.startswith(("127.0.0.1:", "${FACEID_BIND:-127.0.0.1}:")), (name, published)


def compose_default(value: str) -> str:
    """The value compose uses when `${VAR:-default}` has no VAR set."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def test_compose_images_are_pinned():
    for name, service in compose()["services"].items():
        image = compose_default(service["image"])
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


class FakeTFServing(http.server.BaseHTTPRequestHandler):
    """Answers GET /v1/models/faces like TF Serving's REST API, with a settable state."""

    state = "AVAILABLE"

    def do_GET(self):
        if self.path != "/v1/models/faces":
            self.send_error(404)
            return
        body = json.dumps({"model_version_status": [
            {"version": "1", "state": self.state, "status": {"error_code": "OK"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_tfserving():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeTFServing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    FakeTFServing.state = "AVAILABLE"


def test_compose_tfserving_healthcheck_works_with_bash_only(fake_tfserving):
    command = compose()["services"]["tfserving"]["healthcheck"]["test"]
    assert command[:3] == ["CMD", "bash", "-c"]
    assert "curl" not in command[3] and "wget" not in command[3]
    port = fake_tfserving.server_address[1]
    # What compose hands to the container: `$$` unescaped; here pointed at the fake server.
    script = command[3].replace("$$", "$").replace("/8501", f"/{port}")
    env = {"PATH": os.environ["PATH"], "MODEL_NAME": "faces"}

    def healthy() -> bool:
        probe = subprocess.run([tool("bash"), "-c", script], env=env, timeout=10,
                               capture_output=True)
        return probe.returncode == 0

    assert healthy()
    FakeTFServing.state = "LOADING"
    assert not healthy()
    fake_tfserving.shutdown()
    fake_tfserving.server_close()
    assert not healthy()
