"""Enrolment as deployed (docs/people.md): off by default; where it is on, only the service
writes the data folder, only with admin keys, and the trainer's update job runs."""

from __future__ import annotations

import os

import pytest
import yaml

from deploy_files import OVERLAYS, ROOT, compose, find, pod_spec, run, tool
from test_k8s_cluster import check_volume_owner


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_update_job_is_suspended_without_enrolment(overlay):
    assert find(overlay, "CronJob", "faceid-update")["spec"]["suspend"] is True


def _enrolment_overlay(tmp_path, overlay: str) -> list[dict]:
    base = os.path.relpath(ROOT / "k8s", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {base}/overlays/{overlay}\n"
        f"components:\n  - {base}/components/enrolment\n")
    rendered = run(tool("kubectl"), "kustomize", str(tmp_path))
    run(tool("kubernetes-validate"), "--strict", "--quiet", "-", stdin=rendered)
    return [d for d in yaml.safe_load_all(rendered) if d]


def _one(objects: list[dict], kind: str, name: str) -> dict:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def _mounts(container: dict) -> dict[str, bool]:
    """mount path -> read-only"""
    return {m["mountPath"]: bool(m.get("readOnly")) for m in container.get("volumeMounts", [])}


def test_compose_keeps_the_data_folder_read_only_without_the_enrolment_file():
    services = compose()["services"]
    assert "ENROLMENT" not in services["service"]["environment"]
    assert all(not str(v).endswith(":/data") for v in services["service"].get("volumes", []) if isinstance(v, str))
    assert any(str(v).endswith(":/data:ro") for v in services["scheduler"]["volumes"]
               if isinstance(v, str)) or any(str(v).endswith(":/data:ro") for v in services["init-model"]["volumes"])


def test_compose_enrolment_file_gives_the_service_the_data_folder_and_needs_admin_keys():
    service = yaml.safe_load((ROOT / "docker-compose.enrolment.yml").read_text())["services"]["service"]
    assert service["environment"]["ENROLMENT"] == "on"
    assert service["environment"]["DATA_DIR"] == "/data"
    # `${VAR:?message}`: compose refuses to start without admin keys instead of an open write API
    assert service["environment"]["ADMIN_KEYS"].startswith("${ADMIN_KEYS:?")
    (data,) = service["volumes"]
    assert data.endswith(":/data")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_enrolment_component(tmp_path, overlay):
    objects = _enrolment_overlay(tmp_path, overlay)
    (service,) = pod_spec(_one(objects, "Deployment", "faceid-service"))["containers"]
    assert _mounts(service) == {"/tmp": False, "/data": False, "/models": True}
    (admin,) = [e for e in service["env"] if e["name"] == "ADMIN_KEYS"]
    assert admin["valueFrom"]["secretKeyRef"]["name"] == "faceid-admin-keys"
    assert not admin["valueFrom"]["secretKeyRef"].get("optional")  # no secret: the pods do not start
    (config,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("faceid-config")]
    assert {k: config["data"][k] for k in ("ENROLMENT", "DATA_DIR", "MODEL_BASE_PATH")} == \
        {"ENROLMENT": "on", "DATA_DIR": "/data", "MODEL_BASE_PATH": "/models"}
    update = _one(objects, "CronJob", "faceid-update")
    assert update["spec"]["concurrencyPolicy"] == "Forbid" and update["spec"]["suspend"] is False
    (trainer,) = pod_spec(update)["containers"]
    assert trainer["args"][0] == "update"
    assert _mounts(trainer)["/data"] is True and _mounts(trainer)["/models"] is False
    for cronjob in (update, _one(objects, "CronJob", "faceid-retrain")):
        claims = {v["name"]: v["persistentVolumeClaim"] for v in pod_spec(cronjob)["volumes"]
                  if "persistentVolumeClaim" in v}
        assert claims["data"]["readOnly"] is True  # only the service writes photos
    for workload in (update, _one(objects, "Deployment", "faceid-service")):
        check_volume_owner(workload["metadata"]["name"], pod_spec(workload))  # who makes /data, /models writable
    (trainer_config,) = [o for o in objects if o["kind"] == "ConfigMap"
                         and o["metadata"]["name"].startswith("faceid-trainer-config")]
    assert trainer["envFrom"][0]["configMapRef"]["name"] == trainer_config["metadata"]["name"]
