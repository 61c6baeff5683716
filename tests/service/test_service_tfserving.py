"""The tfserving backend against the TF Serving stand-in, and the stand-in's own behaviour."""

from __future__ import annotations

import time
from dataclasses import replace

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (
    get_model_metadata_pb2, get_model_status_pb2, model_pb2, model_service_pb2_grpc, predict_pb2,
    prediction_service_pb2_grpc,
)

from exported_models import copy_version
from processes import free_port, wait_for
from tfserving_standin import StandIn

AVAILABLE = get_model_status_pb2.ModelVersionStatus.AVAILABLE
END = get_model_status_pb2.ModelVersionStatus.END

pytestmark = pytest.mark.data

# Long enough for gRPC's default reconnect backoff to have grown past the 2 s goal: its attempts
# come 0, 1, 2.6, 5.2, 9.3 s after the first failure, so one back at 6 s waits ~3 s for the next.
AWAY_S = 6.0


def predict(client, photo: bytes):
    return client.post("/v1/predict", data=photo, content_type="image/jpeg")




def test_predict_through_tfserving(tfs_client, photos):
    response = predict(tfs_client, photos["three"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["model"] == {"name": "faces", "version": 1, "unknown_threshold": 0.5}
    assert [face["label"] for face in body["faces"]] == ["bob"] * 3
    assert [face["threshold"] for face in body["faces"]] == [0.5] * 3  # from the model server's `threshold` output
    assert tfs_client.get("/readyz").status_code == 200


def test_new_version_is_picked_up_and_reported(tfs_client, models_root, exported, photos, metric):
    assert predict(tfs_client, photos["one"]).get_json()["model"]["version"] == 1
    copy_version(exported["v2"], models_root / "faces", 2)
    body = wait_for(lambda: (b := predict(tfs_client, photos["one"]).get_json())["model"]["version"] == 2 and b)
    assert body["faces"][0]["label"] == "dave"  # v2's class names, read from v2's own metadata
    assert [s["label"] for s in body["faces"][0]["top_k"]][0] == "dave"
    models = tfs_client.get("/v1/models").get_json()["models"][0]
    assert models["version"] == 2 and models["class_names"][-1] == "dave"
    app = tfs_client.application
    assert metric(app, "faceid_model_info", {"name": "faces", "version": "2"}) == 1
    assert metric(app, "faceid_model_info", {"name": "faces", "version": "1"}) == 0
    assert metric(app, "faceid_model_published_timestamp_seconds") == 1_700_000_100


def test_pinned_version(make_app, tfserving_config, models_root, exported, photos, standin):
    copy_version(exported["v2"], models_root / "faces", 2)
    states = model_pb2.ModelSpec(name="faces")
    # Loaded first, then the old one unloaded (TF Serving's availability-preserving policy).
    wait_for(lambda: [(s.version, s.state) for s in standin.versions.statuses(states)]
             == [(2, AVAILABLE), (1, END)])
    client = make_app(replace(tfserving_config, model_version=1)).test_client()
    # The stand-in unloads version 1 once 2 is available (TF Serving's default policy): 503.
    response = predict(client, photos["one"])
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "Specific(faces, 1)" in response.get_json()["detail"]


def test_model_server_down_is_503_with_retry_after(make_app, tfserving_config, photos, metric):
    app = make_app(replace(tfserving_config, tfserving_address=f"127.0.0.1:{free_port()}", tfserving_timeout_s=1.0))
    client = app.test_client()
    response = predict(client, photos["one"])
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) > 0
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "unavailable" in ready.get_json()["detail"].lower()
    assert client.get("/healthz").status_code == 200
    assert metric(app, "faceid_model_server_errors_total", {"code": "UNAVAILABLE"}) >= 2


def test_model_server_stopping_and_coming_back(tfs_client, standin, photos):
    """Away: every answer a 503 with Retry-After within 0.5 s. Back: answers again within 2 s, though
    away long enough (AWAY_S) for gRPC's default backoff to have spaced its attempts ~4 s apart."""
    assert predict(tfs_client, photos["one"]).status_code == 200
    standin.stop()
    away = []
    stopped = time.monotonic()
    while time.monotonic() - stopped < AWAY_S:
        began = time.monotonic()
        response = predict(tfs_client, photos["one"])
        away.append((response.status_code, int(response.headers.get("Retry-After", 0)), time.monotonic() - began))
        time.sleep(0.1)
    assert {(status, retry_after > 0) for status, retry_after, _ in away} == {(503, True)}
    assert max(seconds for _, _, seconds in away) <= 0.5
    standin.start()  # the same port; the versions stay loaded, so it answers at once
    back = time.monotonic()
    wait_for(lambda: predict(tfs_client, photos["one"]).status_code == 200, timeout=10, interval=0.05)
    recovered_s = time.monotonic() - back
    assert recovered_s <= 2.0


def test_deadline_is_504(make_app, tfserving_config, standin, photos, metric):
    app = make_app(replace(tfserving_config, tfserving_timeout_s=0.3))
    standin.predictions.delay_s = 0.6
    response = predict(app.test_client(), photos["one"])
    standin.predictions.delay_s = 0.0
    assert response.status_code == 504 and response.get_json()["type"].endswith("model-timeout")
    assert metric(app, "faceid_model_server_errors_total", {"code": "DEADLINE_EXCEEDED"}) >= 1


def test_wrong_model_name_is_not_ready(make_app, tfserving_config, photos):
    client = make_app(replace(tfserving_config, model_name="cats")).test_client()
    ready = client.get("/readyz")
    assert ready.status_code == 503 and "NOT_FOUND" in ready.get_json()["detail"]
    assert predict(client, photos["one"]).status_code == 503


def test_signature_mismatch_is_not_ready(tmp_path, exported, make_app, tfserving_config, photos):
    copy_version(exported["mismatch"], tmp_path / "bad" / "faces", 1)
    with StandIn("faces", tmp_path / "bad" / "faces") as server:
        client = make_app(replace(tfserving_config, tfserving_address=server.address)).test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "output 'probabilities' has shape [-1, 2], expected [-1, 3]" in ready.get_json()["detail"]
        assert predict(client, photos["one"]).status_code == 503


def test_no_version_yet_then_published(tmp_path, exported, make_app, tfserving_config, photos):
    with StandIn("faces", tmp_path / "empty" / "faces", poll_s=0.05) as server:
        client = make_app(replace(tfserving_config, tfserving_address=server.address)).test_client()
        assert client.get("/readyz").status_code == 503
        copy_version(exported["v1"], tmp_path / "empty" / "faces", 1)
        wait_for(lambda: client.get("/readyz").status_code == 200)
        assert predict(client, photos["one"]).get_json()["model"]["version"] == 1


# --- the stand-in answers like TF Serving ---------------------------------------------------------


@pytest.fixture
def stubs(standin):
    channel = grpc.insecure_channel(standin.address)
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def faces_request(name="faces", batch=2, size=64, key="faces"):
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name))
    request.inputs[key].CopyFrom(tf.make_tensor_proto(np.zeros((batch, size, size, 1), np.float32)))
    return request


def rpc_code(call, request) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call(request, timeout=5)
    return caught.value.code()


def test_standin_predict_batch(stubs):
    response = stubs[0].Predict(faces_request(batch=3), timeout=5)
    assert response.model_spec.version.value == 1
    assert response.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(response.outputs["probabilities"]).shape == (3, 3)
    assert set(response.outputs) == {"probabilities", "embedding", "score", "threshold"}


def test_standin_error_codes(stubs):
    predict_stub, model_stub = stubs
    assert rpc_code(predict_stub.Predict, faces_request(name="cats")) == grpc.StatusCode.NOT_FOUND
    assert rpc_code(predict_stub.Predict, faces_request(key="pixels")) == grpc.StatusCode.INVALID_ARGUMENT
    assert rpc_code(predict_stub.Predict, faces_request(size=32)) == grpc.StatusCode.INVALID_ARGUMENT
    pinned = faces_request()
    pinned.model_spec.version.value = 7
    assert rpc_code(predict_stub.Predict, pinned) == grpc.StatusCode.NOT_FOUND
    status = get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name="cats"))
    assert rpc_code(model_stub.GetModelStatus, status) == grpc.StatusCode.NOT_FOUND


def test_standin_metadata_and_status(stubs):
    predict_stub, model_stub = stubs
    request = get_model_metadata_pb2.GetModelMetadataRequest(
        model_spec=model_pb2.ModelSpec(name="faces"), metadata_field=["signature_def"])
    response = predict_stub.GetModelMetadata(request, timeout=5)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert {"serving_default", "metadata"} <= set(signatures.signature_def)
    assert response.model_spec.version.value == 1
    status = model_stub.GetModelStatus(
        get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name="faces")), timeout=5)
    assert [(s.version, s.state) for s in status.model_version_status] == [
        (1, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


def test_standin_unavailable_when_stopped(standin, stubs):
    standin.stop()
    assert rpc_code(stubs[0].Predict, faces_request()) == grpc.StatusCode.UNAVAILABLE
