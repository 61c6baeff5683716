"""Kubernetes on a real cluster: what a first deployment, storage and disruptions need.

Static checks of the rendered overlays, plus the manifests' shell scripts run for real: the
wait for a first model, the volume-owner step, the documented rollback command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from deploy_files import OVERLAYS, ROOT, config_map, find, objects, pod_spec, run, tool, workloads

DOCS = ROOT / "docs" / "deployment.md"
PHOTOS_POD = ROOT / "k8s" / "photos-pod.yaml"
RWX_OVERLAYS = ["prod", "multiworker"]
TRAINER_UID = 10001

def photos_pod() -> dict:
    return yaml.safe_load(PHOTOS_POD.read_text())


def init_container(spec: dict, name: str) -> dict:
    matches = [c for c in spec.get("initContainers", []) if c["name"] == name]
    assert len(matches) == 1, f"expected one init container {name}"
    return matches[0]


def docs() -> str:
    return DOCS.read_text()


def docs_section(heading: str) -> str:
    """The text under a `### heading` of docs/deployment.md, up to the next heading."""
    text = docs()
    start = text.index(f"### {heading}\n")
    following = re.search(r"^##+ ", text[start + 4:], flags=re.MULTILINE)
    return text[start:start + 4 + following.start()] if following else text[start:]


# ---- TF Serving waits for the first model ---------------------------------------------------


def wait_for_model(overlay: str) -> tuple[dict, dict]:
    spec = pod_spec(find(overlay, "Deployment", "tfserving"))
    (server,) = spec["containers"]
    return init_container(spec, "wait-for-model"), server


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tfserving_starts_only_once_a_model_version_exists(overlay):
    """The init container waits on the folder TF Serving serves, with TF Serving's own image."""
    waiter, server = wait_for_model(overlay)
    flags = dict(arg.split("=", 1) for arg in server["args"])
    assert waiter["args"] == [flags["--model_base_path"]]
    assert waiter["image"] == server["image"], "the image the pod pulls anyway"
    mounts = {m["name"]: m["mountPath"] for m in server["volumeMounts"]}
    waiter_mounts = {m["name"]: m["mountPath"] for m in waiter["volumeMounts"]}
    assert waiter_mounts == {"models": mounts["models"]}
    env = {e["name"]: e for e in waiter["env"]}
    (server_model,) = [e for e in server["env"] if e["name"] == "MODEL_NAME"]
    assert env["MODEL_NAME"] == server_model


def start_waiter(script: list[str], folder: Path) -> subprocess.Popen:
    env = {"PATH": os.environ["PATH"], "POLL_S": "0.05"}
    return subprocess.Popen([*script, str(folder)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_wait_for_model_accepts_only_a_complete_version(tmp_path):
    """Digits-only folder with saved_model.pb; staging folders and half versions do not count."""
    waiter, _ = wait_for_model("dev")
    script = waiter["command"]
    assert script[:2] == ["/bin/sh", "-c"]
    script = ["sh", *script[1:]]
    folder = tmp_path / "faces"
    process = start_waiter(script, folder)
    try:
        time.sleep(0.5)
        assert process.poll() is None, "nothing there yet: keeps waiting"
        (folder / ".publishing-1-abc").mkdir(parents=True)
        (folder / ".publishing-1-abc" / "saved_model.pb").write_bytes(b"x")
        (folder / "2").mkdir()
        (folder / "2" / "variables").mkdir()
        (folder / "3a").mkdir()
        (folder / "3a" / "saved_model.pb").write_bytes(b"x")
        (folder / "4").write_text("a file, not a version folder")
        time.sleep(0.8)
        assert process.poll() is None, "no complete version yet: keeps waiting"
        (folder / "2" / "saved_model.pb").write_bytes(b"x")
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        output = process.communicate()[0]
    assert "found version 2" in output


# ---- Storage --------------------------------------------------------------------------------


def claims(overlay: str) -> list[dict]:
    found = [o for o in objects(overlay) if o["kind"] == "PersistentVolumeClaim"]
    assert {c["metadata"]["name"] for c in found} == {"faceid-models", "faceid-data"}
    return found


@pytest.mark.parametrize("overlay", RWX_OVERLAYS)
def test_shared_claims_name_a_read_write_many_class(overlay):
    """prod names the class (a placeholder the docs say how to set), not the cluster's default."""
    patch = yaml.safe_load((ROOT / "k8s/overlays/prod/storage-class.yaml").read_text())
    (placeholder,) = [op["value"] for op in patch if op["path"] == "/spec/storageClassName"]
    for claim in claims(overlay):
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        assert claim["spec"].get("storageClassName") == placeholder, claim["metadata"]["name"]
    storage = docs_section("Storage")
    assert "k8s/overlays/prod/storage-class.yaml" in storage and placeholder in storage


def test_dev_claims_fit_a_single_node_clusters_default_class():
    """kind's local-path class refuses ReadWriteMany; on one node ReadWriteOnce is enough."""
    for claim in claims("dev"):
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"], claim["metadata"]["name"]
        assert "storageClassName" not in claim["spec"]


def pod_specs(source: str) -> list[tuple[str, dict]]:
    """(where, pod spec) of an overlay's workloads, or of k8s/photos-pod.yaml."""
    if source == "photos-pod":
        return [(source, pod_spec(photos_pod()))]
    return [(f"{source}/{w['metadata']['name']}", pod_spec(w)) for w in workloads(source)]


def writable_claims(spec: dict, container: dict) -> dict[str, str]:
    """Volume name -> mount path, for the claims `container` mounts writable."""
    pvcs = {v["name"] for v in spec.get("volumes", []) if "persistentVolumeClaim" in v
            and not v["persistentVolumeClaim"].get("readOnly")}
    return {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])
            if m["name"] in pvcs and not m.get("readOnly")}


def owner_steps(spec: dict) -> dict[str, dict]:
    """Mount path -> the root init container that gives it to the pod's user."""
    steps = {}
    for init in spec.get("initContainers", []):
        if init.get("securityContext", {}).get("runAsUser") == 0:
            for path in init["args"]:
                steps[path] = init
    return steps


@pytest.mark.parametrize("source", [*OVERLAYS, "photos-pod"])
def test_writable_volumes_do_not_rely_on_fs_group(source):
    """No fsGroup; a root step with CHOWN/FOWNER only owns every claim the user writes."""
    for where, spec in pod_specs(source):
        check_volume_owner(where, spec)


def check_volume_owner(where: str, spec: dict) -> None:
    context = spec["securityContext"]
    assert "fsGroup" not in context, where
    assert context["runAsNonRoot"] is True and context["runAsUser"] == TRAINER_UID, where
    owner = f"{context['runAsUser']}:{context['runAsGroup']}"
    steps = owner_steps(spec)
    for container in spec["containers"]:
        assert not {"runAsUser", "runAsNonRoot"} & set(container["securityContext"]), where
        for name, path in writable_claims(spec, container).items():
            step = steps.get(path)
            assert step is not None, f"{where}: nothing makes {path} writable for {owner}"
            assert {m["name"]: m["mountPath"] for m in step["volumeMounts"]}[name] == path
            assert {e["name"]: e["value"] for e in step["env"]}["OWNER"] == owner, where
    for step in steps.values():
        sc = step["securityContext"]
        assert sc["capabilities"]["drop"] == ["ALL"], where
        assert set(sc["capabilities"]["add"]) <= {"CHOWN", "FOWNER"}, where
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("source", [*OVERLAYS, "photos-pod"])
def test_init_containers_are_locked_down(source):
    """Init containers get the main containers' restrictions and small, bounded resources."""
    for where, spec in pod_specs(source):
        for init in spec.get("initContainers", []):
            context = init["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, (where, init["name"])
            assert context["readOnlyRootFilesystem"] is True, (where, init["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (where, init["name"])
            assert {"cpu", "memory"} <= set(init["resources"]["limits"]), (where, init["name"])


def models_owner() -> dict:
    return init_container(pod_spec(find("prod", "CronJob", "faceid-retrain")), "models-owner")


def test_photos_pod_validates_and_shares_the_owner_script():
    run(tool("kubernetes-validate"), "--strict", "--quiet", str(PHOTOS_POD))
    data_owner = init_container(pod_spec(photos_pod()), "data-owner")
    assert data_owner["command"] == [*models_owner()["command"][:3], "data-owner"]
    (volume,) = pod_spec(photos_pod())["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "faceid-data"


def run_owner_script(folder: Path, capabilities: list[str]) -> subprocess.CompletedProcess:
    """The models-owner step as root with only `capabilities`, as its securityContext says."""
    step = models_owner()
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in capabilities)])
    env = {"PATH": os.environ["PATH"], "OWNER": f"{TRAINER_UID}:{TRAINER_UID}"}
    command = ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all",
               "sh", *step["command"][1:], str(folder)]
    return subprocess.run(command, check=False, env=env, capture_output=True, text=True,
                          timeout=30)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv (util-linux) to run the root init step")
def test_owner_script_gives_the_volume_to_the_trainer_user(tmp_path):
    capabilities = models_owner()["securityContext"]["capabilities"]["add"]
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o500)
    os.chown(fresh, 1234, 1234)
    result = run_owner_script(fresh, capabilities)
    assert result.returncode == 0, result.stderr
    stat = fresh.stat()
    assert (stat.st_uid, stat.st_gid) == (TRAINER_UID, TRAINER_UID)
    assert stat.st_mode & 0o700 == 0o700
    # Already owned (set on the storage side, where root is squashed): nothing to do or fail.
    again = run_owner_script(fresh, [])
    assert again.returncode == 0 and again.stdout == "", again.stderr
    refused = tmp_path / "squashed"
    refused.mkdir()
    result = run_owner_script(refused, [])
    assert result.returncode != 0 and "docs/deployment.md" in result.stderr


# ---- The service reads the models claim, never writes it ----------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_pods_mount_the_models_claim_read_only(overlay):
    """With SERVING_BACKEND=tfserving the service learns the model from TF Serving; from the
    models claim it reads only run reports and the trainer's status, at MODEL_BASE_PATH."""
    from service.config import Config

    spec = pod_spec(find(overlay, "Deployment", "faceid-service"))
    claims = {v["name"]: v["persistentVolumeClaim"] for v in spec["volumes"] if "persistentVolumeClaim" in v}
    assert claims == {"models": {"claimName": "faceid-models", "readOnly": True}}
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "models"]
    assert mount["readOnly"] is True
    env = config_map(overlay, "faceid-config")
    assert env["SERVING_BACKEND"] == "tfserving" and env["MODEL_BASE_PATH"] == mount["mountPath"]
    assert Config.from_env(env).model_base_path is not None


# ---- TF Serving under disruptions -----------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tfserving_has_a_disruption_budget_and_spreads_over_nodes(overlay):
    deployment = find(overlay, "Deployment", "tfserving")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = find(overlay, "PodDisruptionBudget", "tfserving")["spec"]
    assert pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": "tfserving"}
    assert pdb["selector"]["matchLabels"].items() <= labels.items()
    # A budget that a one-replica overlay could never satisfy would block every node drain.
    assert pdb.get("maxUnavailable") == 1 and "minAvailable" not in pdb
    (spread,) = pod_spec(deployment)["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
    assert not [o for o in objects(overlay) if o["kind"] == "HorizontalPodAutoscaler"
                and o["spec"]["scaleTargetRef"]["name"] == "tfserving"]


def test_docs_answer_whether_tfserving_autoscales():
    scaling = docs_section("Scaling TF Serving: replicas, not an autoscaler")
    for words in ("HorizontalPodAutoscaler", "disruption budget", "topology spread",
                  "request_latency", "CPU utilisation", "`replicas`"):
        assert words in scaling, words


# ---- Local images in dev --------------------------------------------------------------------


def containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def project_images(overlay: str) -> dict[str, list[dict]]:
    """The images this project builds (all but TF Serving's) -> the containers that run them."""
    found: dict[str, list[dict]] = {}
    for workload in workloads(overlay):
        for container in containers(pod_spec(workload)):
            if not container["image"].startswith("tensorflow/serving:"):
                found.setdefault(container["image"], []).append(container)
    return found


def test_dev_never_pulls_the_local_images():
    images = project_images("dev")
    assert set(images) == {"faceid-service:0.1.0", "faceid-trainer:0.1.0"}
    for image, users in images.items():
        for container in users:
            assert container.get("imagePullPolicy") == "Never", (image, container["name"])
    first = docs_section("First deployment on a fresh cluster")
    assert f"kind load docker-image {' '.join(sorted(images))}" in first
    for image in images:
        assert f"minikube image load {image}" in first
        assert f"-t {image} ." in first, "built under the name dev runs"


@pytest.mark.parametrize("overlay", RWX_OVERLAYS)
def test_prod_images_come_from_a_registry(overlay):
    for image in project_images(overlay):
        assert "." in image.split("/")[0], image


# ---- The documented rollback ----------------------------------------------------------------


def documented_rollback_filter() -> str:
    block = docs_section("Retraining and rollback")
    (line,) = [line for line in block.splitlines() if "jq '" in line]
    return re.search(r"jq '([^']*)'", line).group(1)


def entrypoint(dockerfile: str) -> list[str]:
    (line,) = [line for line in (ROOT / dockerfile).read_text().splitlines()
               if line.startswith("ENTRYPOINT ")]
    return json.loads(line.split(" ", 1)[1])


def run_trainer_container(overlay: str, job: dict, tmp_path: Path) -> list[str]:
    """Run the Job's trainer command line with a stand-in python3; return what it was given."""
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    argv = container.get("command") or entrypoint("trainer/Dockerfile")
    argv = [*argv, *container.get("args", [])]
    config_maps = {v["name"]: v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v}
    for mount in container["volumeMounts"]:
        if mount["name"] in config_maps:  # the mounted scripts, from the rendered ConfigMap
            data = config_map(overlay, config_maps[mount["name"]].rsplit("-", 1)[0])
            for name, text in data.items():
                local = tmp_path / name
                local.write_text(text)
                argv = [str(local) if a == f"{mount['mountPath']}/{name}" else a for a in argv]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python3"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c "
                    "'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\"\n")
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "JOB_NAME": "faceid-rollback-1",
           "JOB_COMPLETION_INDEX": "0"}
    env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    result = subprocess.run(argv, check=False, env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, f"{argv}: {result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_documented_rollback_runs_the_trainers_rollback(overlay, tmp_path):
    """The docs' jq filter on `kubectl create job --from=cronjob/...`, run as the pod would."""
    cronjob = find(overlay, "CronJob", "faceid-retrain")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "faceid-rollback-1"},
           "spec": cronjob["spec"]["jobTemplate"]["spec"]}
    assert run_trainer_container(overlay, job, tmp_path)[:3] == ["-m", "trainer", "run"]
    rollback = json.loads(run(tool("jq"), documented_rollback_filter(), stdin=json.dumps(job)))
    assert run_trainer_container(overlay, rollback, tmp_path) == [
        "-m", "trainer", "rollback", "--models", "/models"]
    assert rollback["spec"].get("completions", 1) == rollback["spec"].get("parallelism", 1) == 1


# ---- The first deployment, in the order that works ------------------------------------------


def test_docs_walk_a_first_deployment_in_order():
    first = docs_section("First deployment on a fresh cluster")
    steps = ["docker build", "kind load docker-image", "storage-class.yaml",
             "kubectl apply -k k8s/overlays/", "apply -f k8s/photos-pod.yaml", "cp data/.",
             "create job --from=cronjob/faceid-retrain", "rollout status deploy/tfserving",
             "rollout status deploy/faceid-service", "/v1/predict"]
    positions = [first.find(step) for step in steps]
    assert -1 not in positions, [s for s, p in zip(steps, positions) if p == -1]
    assert positions == sorted(positions), "steps out of order"
    for path in re.findall(r"k8s/[\w./-]+\.yaml", docs()):
        assert (ROOT / path).is_file(), path
