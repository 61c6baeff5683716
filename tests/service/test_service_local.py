"""The local backend: newest version on disk, new versions picked up, bad ones not switched to."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exported_models import copy_version

pytestmark = pytest.mark.data


def version_of(client, photo: bytes) -> int:
    response = client.post("/v1/predict", data=photo, content_type="image/jpeg")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["model"]["version"]


def test_new_version_is_picked_up(client, models_root, exported, photos):
    assert version_of(client, photos["one"]) == 1
    copy_version(exported["v2"], models_root / "faces", 2)
    body = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg").get_json()
    assert body["model"]["version"] == 2 and body["faces"][0]["label"] == "dave"
    assert client.get("/v1/models").get_json()["models"][0]["class_names"][-1] == "dave"


def test_mismatching_version_is_not_served(client, models_root, exported, photos, caplog):
    copy_version(exported["mismatch"], models_root / "faces", 2)
    assert version_of(client, photos["one"]) == 1
    assert "does not match the service" in caplog.text
    assert client.get("/readyz").status_code == 200  # still serving version 1


def test_pinned_version(make_app, local_config, models_root, exported, photos):
    copy_version(exported["v2"], models_root / "faces", 2)
    client = make_app(replace(local_config, model_version=1)).test_client()
    assert version_of(client, photos["one"]) == 1


def test_newest_is_loaded_at_start(make_app, local_config, models_root, exported, photos):
    copy_version(exported["v2"], models_root / "faces", 7)
    (models_root / "faces" / "notaversion").mkdir()
    (models_root / "faces" / "9").mkdir()  # an empty version folder (no saved_model.pb) is ignored
    assert version_of(make_app(local_config).test_client(), photos["one"]) == 7


def test_no_model_is_503(make_app, local_config, tmp_path, photos):
    client = make_app(replace(local_config, model_base_path=tmp_path / "nothing")).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "no version found" in ready.get_json()["detail"]
    response = client.post("/v1/predict", data=photos["one"], content_type="image/jpeg")
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_only_a_mismatching_model_is_503_with_the_reason(make_app, local_config, tmp_path, exported):
    copy_version(exported["mismatch"], tmp_path / "bad" / "faces", 1)
    client = make_app(replace(local_config, model_base_path=tmp_path / "bad")).test_client()
    detail = client.get("/readyz").get_json()["detail"]
    assert "output 'probabilities' has shape [-1, 2], expected [-1, 3]" in detail
