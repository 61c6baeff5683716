"""Issue #22 in the API: each version's run report, and explain=true's heatmap per face."""

from __future__ import annotations

import base64
import io
from dataclasses import replace

import pytest
from PIL import Image

from exported_models import copy_version

REPORT = "<!doctype html><title>run report v1</title>"


@pytest.fixture
def reported(models_root):
    (models_root / "faces" / "1" / "report.html").write_text(REPORT)
    return models_root


def test_report_of_the_serving_version(client, reported):
    answer = client.get("/v1/models/faces/report")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert answer.get_data(as_text=True) == REPORT
    assert "default-src 'none'" in answer.headers["Content-Security-Policy"]
    assert client.get("/v1/models/faces/report?version=1").get_data(as_text=True) == REPORT


@pytest.mark.parametrize("path, reason", [
    ("/v1/models/faces/report?version=7", "no version 7 of faces"),
    ("/v1/models/other/report", "serves model 'faces', not 'other'"),
])
def test_missing_report_is_404_with_a_reason(client, reported, path, reason):
    answer = client.get(path)
    assert answer.status_code == 404 and answer.mimetype == "application/problem+json"
    assert answer.get_json()["type"] == "urn:faceid:problem:report-not-found" and reason in answer.get_json()["detail"]


def test_version_without_report_is_404(client):
    answer = client.get("/v1/models/faces/report")
    assert answer.status_code == 404 and "has no report.html" in answer.get_json()["detail"]


def test_without_models_folder_report_is_404(make_app, tfserving_config):
    answer = make_app(tfserving_config).test_client().get("/v1/models/faces/report?version=1")
    assert answer.status_code == 404 and "MODEL_BASE_PATH is not set" in answer.get_json()["detail"]


@pytest.mark.parametrize("version", ["0", "x", "-1"])
def test_bad_version_is_400(client, version):
    assert client.get(f"/v1/models/faces/report?version={version}").status_code == 400


def heatmaps(answer) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(face["heatmap"]))) for face in answer["faces"]]


@pytest.mark.parametrize("backend", ["local", "tfserving"])
def test_explain_adds_a_heatmap_over_each_box(client, tfs_client, photos, backend):
    chosen = client if backend == "local" else tfs_client
    plain = chosen.post("/v1/predict", data=photos["three"], content_type="image/jpeg").get_json()
    answer = chosen.post("/v1/predict?explain=true&max_faces=2", data=photos["three"],
                         content_type="image/jpeg").get_json()
    assert all("heatmap" not in face for face in plain["faces"])
    assert [f["label"] for f in answer["faces"]] == [f["label"] for f in plain["faces"][:2]]
    for face, picture in zip(answer["faces"], heatmaps(answer)):
        box = face["box"]
        assert picture.mode == "L" and max(picture.size) == 64
        assert abs(picture.size[0] / picture.size[1] - box["width"] / box["height"]) < 0.05


def test_explain_of_a_version_without_the_signature_is_409(make_app, local_config, exported, tmp_path, photos):
    import shutil

    folder = copy_version(exported["v1"], tmp_path / "old" / "faces", 1)
    _drop_explain(folder)
    client = make_app(replace(local_config, model_base_path=tmp_path / "old")).test_client()
    answer = client.post("/v1/predict?explain=true", data=photos["one"], content_type="image/jpeg")
    assert answer.status_code == 409 and answer.get_json()["type"] == "urn:faceid:problem:cannot-explain"
    assert client.post("/v1/predict", data=photos["one"], content_type="image/jpeg").status_code == 200
    shutil.rmtree(folder)


def _drop_explain(folder) -> None:
    """Remove the `explain` SignatureDef, as in a version exported before it existed."""
    from tensorflow.core.protobuf import saved_model_pb2

    path = folder / "saved_model.pb"
    saved = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    del saved.meta_graphs[0].signature_def["explain"]
    path.write_bytes(saved.SerializeToString())


@pytest.mark.parametrize("value", ["yes", "2"])
def test_bad_explain_value_is_400(client, photos, value):
    answer = client.post(f"/v1/predict?explain={value}", data=photos["one"], content_type="image/jpeg")
    assert answer.status_code == 400 and "explain must be true or false" in answer.get_json()["detail"]
