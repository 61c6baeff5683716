"""Kubernetes: every overlay rendered by `kubectl kustomize` and validated strictly
(kubernetes-validate), then the values the contract fixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from deploy_files import (
    OPTIONAL_SERVICE_ENV, OVERLAYS, ROOT, SERVICE_ENV, TFSERVING_CONFIGS, TRAINER_ENV, compose, config_map, find,
    pod_spec, render, run, tool, workloads,
)


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
    assert config_map(overlay, "faceid-config")["TFSERVING_ADDRESS"] == "dns:///tfserving-pods:8500"
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
    # the GPU request alone places the pod: no label only some clusters set (issue 21)
    assert "nodeSelector" not in spec
    assert any(t["key"] == "nvidia.com/gpu" for t in spec.get("tolerations", [])) is gpu


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_storage_and_tfserving_config(overlay):
    models = find(overlay, "PersistentVolumeClaim", "faceid-models")
    # dev: single-node clusters (tests/deploy/test_k8s_cluster.py checks the storage per overlay).
    assert models["spec"]["accessModes"] == ["ReadWriteOnce" if overlay == "dev" else "ReadWriteMany"]
    find(overlay, "PersistentVolumeClaim", "faceid-data")
    data = config_map(overlay, "tfserving-config")
    assert set(data) == {"monitoring.config", "batching.config"}
    for name in data:  # the one copy, which docker-compose.yml mounts too
        assert data[name] == (TFSERVING_CONFIGS / name).read_text(), name


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


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_tfserving_serves_the_configured_model_name(overlay):
    (container,) = find(overlay, "Deployment", "tfserving")["spec"]["template"]["spec"]["containers"]
    flags = dict(arg.split("=", 1) for arg in container["args"])
    assert flags["--model_name"] == "$(MODEL_NAME)" and flags["--model_base_path"] == "/models/$(MODEL_NAME)"
    (env,) = [e for e in container["env"] if e["name"] == "MODEL_NAME"]
    assert env["valueFrom"]["configMapKeyRef"]["name"].startswith("faceid-config")


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_renaming_the_model_in_an_overlay_renames_it_everywhere(overlay, tmp_path):
    """An operator's overlay that sets faceid-config's MODEL_NAME (and lists the model-name
    component, as ours do) moves TF Serving's readiness path and the trainer's MODEL_NAME too."""
    base = os.path.relpath(ROOT / "k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {base}/overlays/{overlay}\n"
        "configMapGenerator:\n  - name: faceid-config\n    behavior: merge\n    literals:\n      - MODEL_NAME=people\n"
        f"components:\n  - {base}/components/model-name\n")
    rendered = [d for d in yaml.safe_load_all(run(tool("kubectl"), "kustomize", str(tmp_path))) if d]
    (tfserving,) = [d for d in rendered if d["kind"] == "Deployment" and d["metadata"]["name"] == "tfserving"]
    assert pod_spec(tfserving)["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v1/models/people/metadata"
    names = {d["metadata"]["name"].rsplit("-", 1)[0]: d["data"].get("MODEL_NAME")
             for d in rendered if d["kind"] == "ConfigMap"}
    assert names["faceid-config"] == names["faceid-trainer-config"] == "people"
    # and our overlays as shipped keep the one default name
    shipped = pod_spec(find(overlay, "Deployment", "tfserving"))["containers"][0]
    assert shipped["readinessProbe"]["httpGet"]["path"] == "/v1/models/faces/metadata"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tfserving_runs_on_the_only_architecture_its_image_has(overlay):
    assert pod_spec(find(overlay, "Deployment", "tfserving"))["nodeSelector"] == {"kubernetes.io/arch": "amd64"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_pods_drain_before_sigterm(overlay):
    """preStop writes the file /readyz reads (service.config.Config.drain_file) and waits; the grace
    period outlasts it plus gunicorn's graceful_timeout."""
    from service.config import Config

    spec = pod_spec(find(overlay, "Deployment", "faceid-service"))
    (container,) = spec["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert f"touch {Config.drain_file}" in command[-1] and "sleep 10" in command[-1]
    assert spec["terminationGracePeriodSeconds"] >= 10 + 30


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_calls_every_tfserving_pod_through_a_headless_service(overlay):
    """TFSERVING_ADDRESS names a headless Service of TF Serving's pods (DNS answers every pod, the
    channel's round_robin spreads calls); through a ClusterIP one connection takes all calls."""
    address = config_map(overlay, "faceid-config")["TFSERVING_ADDRESS"]
    assert address.startswith("dns:///")
    name, port = address.removeprefix("dns:///").rsplit(":", 1)
    headless = find(overlay, "Service", name)["spec"]
    assert headless["clusterIP"] == "None"
    tfserving = find(overlay, "Deployment", "tfserving")
    assert headless["selector"].items() <= tfserving["spec"]["template"]["metadata"]["labels"].items()
    (container,) = pod_spec(tfserving)["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (service_port,) = [p for p in headless["ports"] if p["port"] == int(port)]
    assert ports[service_port["targetPort"]] == 8500 and "--port=8500" in container["args"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tfserving_pods_stop_only_after_every_client_moved_off(overlay):
    """Connections live at most max_connection_age (+ grace for calls in flight), after which the
    client resolves the name again; a stopping pod serves on longer than that (preStop), and the
    grace period outlasts preStop plus one call's deadline."""
    spec = pod_spec(find(overlay, "Deployment", "tfserving"))
    (container,) = spec["containers"]
    (flag,) = [a for a in container["args"] if a.startswith("--grpc_channel_arguments=")]
    arguments = dict(item.split("=") for item in flag.split("=", 1)[1].split(","))
    age_s = int(arguments["grpc.max_connection_age_ms"]) / 1000
    grace_s = int(arguments["grpc.max_connection_age_grace_ms"]) / 1000
    assert age_s <= 30  # issue 21: a replica added later gets its share within 30 s
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    sleep_s = float(command[-1].split("sleep")[1])
    assert sleep_s > age_s + grace_s
    deadline_s = float(config_map(overlay, "faceid-config")["TFSERVING_TIMEOUT_S"])
    assert spec["terminationGracePeriodSeconds"] >= sleep_s + deadline_s
