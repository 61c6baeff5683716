"""The TF Serving stand-in copies TF Serving's rules: each rule, with TF Serving's code and message.

Fast tests drive the pieces with fakes; those marked slow load SavedModels or start servers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2, get_model_status_pb2, model_pb2, model_service_pb2_grpc, predict_pb2,
    prediction_log_pb2, prediction_service_pb2_grpc,
)

from exported_models import BadSignatures, copy_version, publish, tiny_model, tiny_info
from facecore.modelinfo import METADATA_SIGNATURE, MODEL_INFO_KEY, info_from_output, metadata_inputs
from facecore.tensors import to_array
from processes import REPO, SUPPORT, TFSERVING_CONFIGS, deployed_batching, free_port, poll_flag, wait_for
from tfserving_standin import configs
from tfserving_standin.__main__ import batching_from_flags, retries_from_flags
from tfserving_standin.__main__ import main as standin_main
from tfserving_standin.batching import DEFAULT_MAX_BATCH_SIZE, Batching
from tfserving_standin.errors import ServingError
from tfserving_standin.flags import channel_arguments, parse_flags, poll_seconds
from tfserving_standin.metadata import model_metadata
from tfserving_standin.metrics import Metrics
from tfserving_standin.predict import predict
from tfserving_standin.rest import error_json, get_json
from tfserving_standin.servable import Servable, load_servable
from tfserving_standin.server import StandIn, StartError
from tfserving_standin.tensors import output_proto
from tfserving_standin.versions import TF_SERVING_RETRIES, LoadRetries, ModelVersions, parse_version, versions_in
from tfserving_standin.warmup import WARMUP_PATH, warm_up

State = get_model_status_pb2.ModelVersionStatus
INVALID, FAILED = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION
NO_PB = ("Specified file path does not appear to contain a SavedModel bundle "
         "(should have a file called `saved_model.pb`)")


# ---- fakes and helpers ------------------------------------------------------------------------


class FakeLoader:
    """load(path, version) for ModelVersions: records calls; fails the versions in `failing`."""

    def __init__(self, failing=()) -> None:
        self.calls: list[tuple[Path, int]] = []
        self.failing = set(failing)
        self.during_load = None  # called while a version loads

    def __call__(self, path: Path, version: int):
        self.calls.append((path, version))
        if self.during_load:
            self.during_load(version)
        if version in self.failing:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"{NO_PB}\nSpecified file path: {path}")
        return f"servable {version}"


def folders(base: Path, *names: str) -> Path:
    for name in names:
        (base / name).mkdir(parents=True, exist_ok=True)
    return base


def spec(name="faces", version=None) -> model_pb2.ModelSpec:
    model_spec = model_pb2.ModelSpec(name=name)
    if version is not None:
        model_spec.version.value = version
    return model_spec


@contextlib.contextmanager
def raises(code: grpc.StatusCode, message: str):
    """pytest.raises for a ServingError with `code` whose message contains `message`."""
    with pytest.raises(ServingError) as caught:
        yield caught
    assert caught.value.code == code, caught.value.status_string()
    assert message in str(caught.value)


def request(signature="serving_default", name="faces", **inputs) -> predict_pb2.PredictRequest:
    message = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, signature_name=signature))
    for key, value in inputs.items():
        message.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return message


def faces(batch: int) -> np.ndarray:
    return np.zeros((batch, 64, 64, 1), np.float32)  # [N, S, S, 1]


def write_warmup(path: Path, *entries: prediction_log_pb2.PredictionLog) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for entry in entries:
            writer.write(entry.SerializeToString())
    return path


def predict_log(message: predict_pb2.PredictRequest) -> prediction_log_pb2.PredictionLog:
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=message))


def http_get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# ---- rule 2: which folders are versions; latest wins; load before unload; failures stay --------


@pytest.mark.parametrize("name, version", [
    ("1", 1), ("007", 7), (" 12\t", 12), ("+3", 3), ("-2", -2), ("9223372036854775807", 2**63 - 1),
    ("abc", None), ("2.tmp", None), (".3-partial", None), ("1e3", None), ("1_0", None), ("٣", None),
    ("", None), ("9223372036854775808", None),
])
def test_version_names_parse_like_simple_atoi(name, version):
    assert parse_version(name) == version


def test_duplicate_version_names_keep_the_later_one(caplog):
    assert versions_in(["7", "007", "abc"]) == {7: "7"}
    assert ("Duplicate version directories detected. Version 7 will be loaded from 7, 007 will be ignored."
            in caplog.text)


def test_numeric_names_are_versions_and_the_highest_loads(tmp_path):
    loader = FakeLoader()
    versions = ModelVersions("faces", folders(tmp_path, "3", "007", "abc", "2.tmp", "10x"), loader)
    versions.poll()
    assert loader.calls == [(tmp_path / "007", 7)]
    assert versions.find(spec()) == "servable 7"


def test_no_version_logs_the_warning_and_serves_nothing(tmp_path, caplog):
    versions = ModelVersions("faces", folders(tmp_path, "abc"), FakeLoader())
    versions.poll()
    assert (f"No versions of servable faces found under base path {tmp_path}. Did you forget to name your "
            "leaf directory as a number (eg. '/1/')?") in caplog.text
    with raises(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(faces)"):
        versions.find(spec())
    with raises(grpc.StatusCode.NOT_FOUND, "Could not find any versions of model faces"):
        versions.statuses(spec())


def test_new_version_loads_before_the_old_one_unloads(tmp_path):
    loader = FakeLoader()
    versions = ModelVersions("faces", folders(tmp_path, "1"), loader)
    versions.poll()
    served_while_loading = []
    loader.during_load = lambda version: served_while_loading.append(versions.find(spec()))
    folders(tmp_path, "2")
    versions.poll()
    assert served_while_loading == ["servable 1"]
    assert versions.find(spec()) == "servable 2"
    assert [(s.version, s.state) for s in versions.statuses(spec())] == [(2, State.AVAILABLE), (1, State.END)]


def test_failed_newest_keeps_old_serving_and_is_not_retried(tmp_path):
    loader = FakeLoader(failing={2})
    versions = ModelVersions("faces", folders(tmp_path, "1"), loader)
    versions.poll()
    folders(tmp_path, "2")
    versions.poll()
    versions.poll()
    assert [version for _, version in loader.calls] == [1, 2]
    assert versions.find(spec()) == "servable 1"
    failed, old = versions.statuses(spec())
    assert (failed.version, failed.state, old.version, old.state) == (2, State.END, 1, State.AVAILABLE)
    assert failed.status.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert failed.status.error_message.startswith(NO_PB)


def test_failed_version_is_tried_again_once_no_longer_aspired(tmp_path):
    loader = FakeLoader(failing={2})
    versions = ModelVersions("faces", folders(tmp_path, "1", "2"), loader)
    versions.poll()
    folders(tmp_path, "3")
    versions.poll()  # 3 serves; 2 is no longer aspired, so AspiredVersionsManager forgets its failure
    shutil.rmtree(tmp_path / "3")
    versions.poll()
    assert [version for _, version in loader.calls] == [2, 3, 2]


def test_emptied_base_unloads_but_missing_base_keeps_serving(tmp_path):
    versions = ModelVersions("faces", folders(tmp_path / "base", "1"), FakeLoader())
    versions.poll()
    (tmp_path / "base").rename(tmp_path / "moved")
    versions.poll()  # base path missing: a file-system error, nothing unloads
    assert versions.find(spec()) == "servable 1"
    (tmp_path / "moved").rename(tmp_path / "base")
    shutil.rmtree(tmp_path / "base" / "1")
    versions.poll()  # nothing aspired: every version unloads
    with raises(grpc.StatusCode.NOT_FOUND, "Latest(faces)"):
        versions.find(spec())


def test_folder_without_saved_model_fails_with_not_found(tmp_path):
    with raises(grpc.StatusCode.NOT_FOUND, f"{NO_PB}\nSpecified file path: {tmp_path}"):
        load_servable(tmp_path, 1)


def test_find_errors(tmp_path):
    versions = ModelVersions("faces", folders(tmp_path, "1"), FakeLoader())
    versions.poll()
    with raises(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Latest(cats)"):
        versions.find(spec("cats"))
    with raises(grpc.StatusCode.NOT_FOUND, "Servable not found for request: Specific(faces, 7)"):
        versions.find(spec(version=7))
    with raises(grpc.StatusCode.INVALID_ARGUMENT, "Unrecognized servable version label: stable"):
        versions.find(model_pb2.ModelSpec(name="faces", version_label="stable"))
    with raises(grpc.StatusCode.NOT_FOUND, "Could not find version 7 of model faces"):
        versions.statuses(spec(version=7))


# ---- rule 4: batching's checks --------------------------------------------------------------------


@pytest.mark.parametrize("shapes, message", [
    ([], "Batching Run() must have at least one input tensor"),
    ([[3], []], "Batching Run() input tensors must have at least one dimension"),
    ([[3, 2], [4]], "Batching Run() input tensors must have equal 0th-dimension size"),
    ([[17, 64]], "Task size 17 is larger than maximum input batch size 16"),
])
def test_batching_refuses_inputs(shapes, message):
    with raises(INVALID, message):
        Batching(16).check_inputs(shapes)


def test_batching_accepts_a_batch_up_to_the_maximum():
    assert Batching(16).check_inputs([[16, 64], [16]]) == 16
    assert Batching().max_batch_size == DEFAULT_MAX_BATCH_SIZE == 1000


@pytest.mark.parametrize("output, message", [
    (np.float32(1.0), "Batched output tensor has 0 dimensions"),
    (np.zeros(4), "Batched output tensor's 0th dimension does not equal the sum of the 0th dimension sizes "
                  "of the input tensors"),
])
def test_batching_refuses_outputs(output, message):
    with raises(FAILED, message):
        Batching(16).check_outputs({"y": output}, 2)


def test_batching_parameters_file_sets_the_maximum():
    parameters = configs.read_config(TFSERVING_CONFIGS / "batching.config", configs.BATCHING_PARAMETERS)
    assert Batching.from_parameters(parameters).max_batch_size == parameters.max_batch_size.value
    assert Batching.from_parameters(configs.parse_config("", configs.BATCHING_PARAMETERS)).max_batch_size == 1000


# ---- rule 3: warm-up --------------------------------------------------------------------------------


def test_warmup_replays_every_predict_log(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tfserving_standin")
    path = write_warmup(tmp_path.joinpath(*WARMUP_PATH), predict_log(request(x=[1.0])), predict_log(request(x=[2.0])))
    seen = []
    assert warm_up(tmp_path, seen.append) == 2
    assert [list(tf.make_ndarray(r.inputs["x"])) for r in seen] == [[1.0], [2.0]]
    assert f"Finished reading warmup data for model at {path}. Number of warmup records read: 2." in caplog.text


def test_missing_warmup_file_is_ok(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tfserving_standin")
    assert warm_up(tmp_path, pytest.fail) == 0
    assert f"No warmup data file found at {tmp_path.joinpath(*WARMUP_PATH)}" in caplog.text


def test_warmup_refuses_other_log_types(tmp_path):
    classify = prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog())
    write_warmup(tmp_path.joinpath(*WARMUP_PATH), classify)
    with raises(grpc.StatusCode.UNIMPLEMENTED, "Unsupported log_type for warmup: 2"):
        warm_up(tmp_path, lambda _: None)


def test_warmup_refuses_more_than_1000_records(tmp_path):
    path = write_warmup(tmp_path.joinpath(*WARMUP_PATH), *[predict_log(request(x=[1.0]))] * 1001)
    seen = []
    with raises(INVALID, f"Number of warmup records exceeds the maximum (1000) at {path}"):
        warm_up(tmp_path, seen.append)
    assert len(seen) == 1001


def test_warmup_failure_is_the_requests_error(tmp_path):
    write_warmup(tmp_path.joinpath(*WARMUP_PATH), predict_log(request(x=[1.0] * 20)))

    def refuse(message):
        Batching(16).check_inputs([[d.size for d in message.inputs["x"].tensor_shape.dim]])

    with raises(INVALID, "Task size 20 is larger than maximum input batch size 16"):
        warm_up(tmp_path, refuse)


def test_corrupt_warmup_file_is_data_loss(tmp_path):
    path = tmp_path.joinpath(*WARMUP_PATH)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a tfrecord file at all")
    with raises(grpc.StatusCode.DATA_LOSS, "Please verify your warmup data is in TFRecord format."):
        warm_up(tmp_path, lambda _: None)


# ---- rule 5: REST status and metrics ------------------------------------------------------------------


@pytest.fixture
def two_versions(tmp_path) -> ModelVersions:
    """faces: 1 AVAILABLE, 2 failed to load (END with NOT_FOUND)."""
    versions = ModelVersions("faces", folders(tmp_path, "1"), FakeLoader(failing={2}))
    versions.poll()
    folders(tmp_path, "2")
    versions.poll()
    return versions


def test_rest_status_json_is_tf_servings(two_versions, tmp_path):
    text = get_json(two_versions, "/v1/models/faces")
    assert text.startswith('{\n "model_version_status": [\n  {\n   "version": "2",\n   "state": "END",')
    assert json.loads(text) == {"model_version_status": [
        {"version": "2", "state": "END",
         "status": {"error_code": "NOT_FOUND", "error_message": f"{NO_PB}\nSpecified file path: {tmp_path / '2'}"}},
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    one = json.loads(get_json(two_versions, "/v1/models/faces/versions/1"))
    assert [s["version"] for s in one["model_version_status"]] == ["1"]


@pytest.mark.parametrize("path, code, error", [
    ("/v1/models/faces/versions/9", 404, "Could not find version 9 of model faces"),
    ("/v1/models/foo", 404, "Could not find any versions of model foo"),
    ("/v1/models", 400, "Missing model name in request."),
    ("/v1/models/faces:predict", 400, "Malformed request: GET /v1/models/faces:predict"),
    ("/v1/models/foo/metadata", 404, "Servable not found for request: Latest(foo)"),
    ("/v1/models/faces/versions/7/metadata", 404, "Servable not found for request: Specific(faces, 7)"),
    ("/v1/models/faces/labels/stable/metadata", 400, "Unrecognized servable version label: stable"),
    ("/v1/models/faces/versions/99999999999999999999/metadata", 400,
     "Failed to convert version: 99999999999999999999 to numeric."),
    ("/v1/models/faces/metadata/x", 400, "Malformed request: GET /v1/models/faces/metadata/x"),
])
def test_rest_errors(one_version, path, code, error):
    with pytest.raises(ServingError) as caught:
        get_json(one_version, path)
    assert caught.value.http_status == code
    assert json.loads(error_json(caught.value)) == {"error": error}
    assert error_json(caught.value).startswith('{ "error": ')


def test_metrics_text_is_tf_servings():
    metrics = Metrics()
    for code in (grpc.StatusCode.OK, grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT):
        metrics.count("faces", code)
    metrics.observe_latency("faces", "Predict", 0.002)
    text = metrics.exposition()
    assert "# TYPE :tensorflow:serving:request_count counter" in text.splitlines()
    assert ':tensorflow:serving:request_count{model_name="faces",status="OK"} 2' in text.splitlines()
    assert ':tensorflow:serving:request_count{model_name="faces",status="INVALID_ARGUMENT"} 1' in text.splitlines()
    assert "# TYPE :tensorflow:serving:request_latency histogram" in text
    labels = 'model_name="faces",API="Predict",entrypoint="GRPC"'
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="10"}} 0' in text
    assert f':tensorflow:serving:request_latency_bucket{{{labels},le="+Inf"}} 1' in text
    assert f":tensorflow:serving:request_latency_count{{{labels}}} 1" in text
    assert "# HELP" not in text and "_total" not in text


# ---- the command line -------------------------------------------------------------------------------------


def test_flags_have_tf_servings_names_and_defaults():
    args = parse_flags(["--port=9000", "--enable_batching=true", "--model_base_path=/m"])
    assert (args.port, args.enable_batching, args.model_base_path) == (9000, True, "/m")
    assert (args.rest_api_port, args.file_system_poll_wait_seconds, args.enable_model_warmup) == (0, 1, True)
    assert (args.max_num_load_retries, args.load_retry_interval_micros) == (5, 60_000_000)  # server.h
    assert parse_flags(["--enable_model_warmup=false"]).enable_model_warmup is False


@pytest.mark.parametrize("argv, error", [
    (["--no_such_flag=1"], "unrecognized arguments"), (["--por=8500"], "unrecognized arguments"),
    (["--port", "8500"], "unknown argument: --port"), (["8500"], "unknown argument: 8500"),
])
def test_flags_tf_serving_would_not_read_are_refused(argv, error, capsys):
    # Stricter than main.cc, which prints "unknown argument" and starts: the stand-in refuses what
    # it does not copy, so that no flag of a deployment file is silently ignored by it.
    with pytest.raises(SystemExit) as caught:
        parse_flags(argv)
    assert caught.value.code == 255 and error in capsys.readouterr().err


def test_model_config_file_names_the_model():
    config = configs.parse_config('model_config_list { config { name: "faces" base_path: "/models/faces" '
                                  'model_platform: "tensorflow" } }', configs.MODEL_SERVER_CONFIG)
    assert configs.single_model(config) == ("faces", Path("/models/faces"))
    two = configs.parse_config('model_config_list { config { name: "a" } config { name: "b" } }',
                               configs.MODEL_SERVER_CONFIG)
    with pytest.raises(ValueError, match="exactly one model"):
        configs.single_model(two)


# ---- rule 1: start-up (in process) -----------------------------------------------------------------------


def test_first_version_failing_stops_start_up(tmp_path):
    folders(tmp_path, "1")  # no saved_model.pb
    server = StandIn("faces", tmp_path, poll_s=0.05, wait_for_version=True)
    with pytest.raises(StartError) as caught:
        server.start()
    assert str(caught.value) == ("UNKNOWN: 1 servable(s) did not become available: {{name: faces version: 1} "
                                 f"due to error: NOT_FOUND: {NO_PB}\nSpecified file path: {tmp_path / '1'}}}, }}")
    assert server.port is None
    server.stop()


# ---- issue #21: load retries (loader_harness.cc Load, util/retrier.cc Retry) -----------------------


class FlakyLoader(FakeLoader):
    """Fails every version's first `failures` loads, then loads it."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def __call__(self, path: Path, version: int):
        self.failing = {version} if len(self.calls) < self.failures else set()
        return super().__call__(path, version)


def test_a_failed_load_is_retried_while_loading_then_serves(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tfserving_standin")
    loader = FlakyLoader(failures=2)
    versions = ModelVersions("faces", folders(tmp_path, "1"), loader, LoadRetries(5, 0.1))
    states = []
    loader.during_load = lambda version: states.append(versions.statuses(spec())[0].state)
    started = time.monotonic()
    versions.poll()
    assert time.monotonic() - started >= 0.2  # two waits of load_retry_interval
    assert states == [State.LOADING] * 3 and len(loader.calls) == 3
    assert versions.find(spec()) == "servable 1"
    assert "Loading servable: {name: faces version: 1} failed: NOT_FOUND: " in caplog.text
    assert "Retrying of Loading servable: {name: faces version: 1} retry: 2" in caplog.text


def test_retries_end_after_max_num_load_retries_with_the_last_error(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tfserving_standin")
    loader = FakeLoader(failing={1})
    versions = ModelVersions("faces", folders(tmp_path, "1"), loader, LoadRetries(2, -1))  # negative: no wait
    versions.poll()
    versions.poll()  # a version that failed all its tries is not tried again while it stays aspired
    assert len(loader.calls) == 3
    (failed,) = versions.statuses(spec())
    assert (failed.state, failed.status.error_code) == (State.END, grpc.StatusCode.NOT_FOUND.value[0])
    assert "Retrying of Loading servable: {name: faces version: 1} exhausted max_num_load_retries: 2" in caplog.text


def test_a_newer_version_waits_for_the_retries(tmp_path):
    # After start-up TF Serving loads in the manager's own thread (num_load_threads 0): the newer
    # version is seen only once the retries of the failing one are over.
    loader = FakeLoader(failing={2})
    versions = ModelVersions("faces", folders(tmp_path, "1"), loader, LoadRetries(2, 0.05))
    versions.poll()
    loader.during_load = lambda version: folders(tmp_path, "3")
    folders(tmp_path, "2")
    versions.poll()
    assert [version for _, version in loader.calls] == [1, 2, 2, 2]
    versions.poll()
    assert versions.find(spec()) == "servable 3"


def test_retries_default_to_tf_servings_on_the_command_line_and_to_none_in_process(tmp_path):
    assert retries_from_flags(parse_flags([])) == TF_SERVING_RETRIES == LoadRetries(5, 60.0)
    flags = parse_flags(["--max_num_load_retries=1", "--load_retry_interval_micros=250000"])
    assert retries_from_flags(flags) == LoadRetries(1, 0.25)
    assert StandIn("faces", tmp_path).versions.retries == LoadRetries(0, 0.0)


# ---- issue #21: Predict outputs in typed fields (predict_util.cc PostProcessPredictionResult) -----


@pytest.mark.parametrize("value, field", [
    (np.arange(6, dtype=np.float32).reshape(2, 3), "float_val"), (np.array([0.5, 2.0]), "double_val"),
    (np.array([3, 4], np.int32), "int_val"), (np.array([[3, 4]], np.int64), "int64_val"),
    (np.array([True, False]), "bool_val"), (np.array([b"a", b"b" * 300]), "string_val"),
    (np.array([1.5, -2.0], np.float16), "half_val"), (np.float32(7.0), "float_val"),
])
def test_outputs_are_written_in_typed_fields(value, field):
    proto = output_proto(value)
    assert proto.tensor_content == b"" and len(getattr(proto, field)) == np.size(value)  # every value, none repeated
    assert [d.size for d in proto.tensor_shape.dim] == list(np.shape(value))
    # Tensor::FromProto, TensorFlow's C++ reader, reads back the same tensor.
    np.testing.assert_array_equal(tf.io.parse_tensor(proto.SerializeToString(), proto.dtype).numpy(), value)
    content = output_proto(value, as_content=True)  # --enable_serialization_as_tensor_content
    assert content.tensor_content != b"" and len(getattr(content, field)) == 0
    np.testing.assert_array_equal(tf.io.parse_tensor(content.SerializeToString(), content.dtype).numpy(), value)


def test_the_service_decodes_typed_fields():
    probabilities = np.array([[0.25, 0.75], [1.0, 0.0]], np.float32)
    np.testing.assert_array_equal(to_array(output_proto(probabilities)), probabilities)
    assert to_array(output_proto(np.array([b'{"a": 1}']))).tolist() == [b'{"a": 1}']
    np.testing.assert_array_equal(to_array(output_proto(probabilities, as_content=True)), probabilities)


# ---- issue #21: REST model metadata (http_rest_api_handler.cc ProcessModelMetadataRequest) --------


def signature_def() -> meta_graph_pb2.SignatureDef:
    shape = tf.TensorShape([None, 64, 64, 1]).as_proto()
    return meta_graph_pb2.SignatureDef(
        method_name="tensorflow/serving/predict",
        inputs={"faces": meta_graph_pb2.TensorInfo(name="serving_default_faces:0", dtype=1, tensor_shape=shape)},
        outputs={"probabilities": meta_graph_pb2.TensorInfo(name="StatefulPartitionedCall:0", dtype=1,
                                                            tensor_shape=tf.TensorShape([None, 3]).as_proto())})


@pytest.fixture
def one_version(tmp_path) -> ModelVersions:
    """faces version 1 AVAILABLE, with one `serving_default` signature."""
    versions = ModelVersions("faces", folders(tmp_path, "1"),
                             lambda path, version: Servable(version, None, {"serving_default": signature_def()}))
    versions.poll()
    return versions


def test_rest_metadata_json_is_tf_servings(one_version):
    text = get_json(one_version, "/v1/models/faces/metadata")
    assert text.startswith('{\n"model_spec":{\n "name": "faces",\n "version": "1",\n "signature_name": ""\n},\n'
                           '"metadata": {"signature_def": {\n "signature_def": {\n  "serving_default": {')
    body = json.loads(text)
    assert body["model_spec"] == {"name": "faces", "version": "1", "signature_name": ""}
    served = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert served["method_name"] == "tensorflow/serving/predict"  # proto field names, not camelCase
    assert served["inputs"]["faces"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in served["inputs"]["faces"]["tensor_shape"]["dim"]] == ["-1", "64", "64", "1"]
    assert get_json(one_version, "/v1/models/faces/versions/1/metadata") == text
    assert get_json(one_version, "/V1/MODELS/faces/METADATA").startswith('{\n "model_version_status"')


@pytest.mark.parametrize("fields, message", [
    ([], "GetModelMetadataRequest must specify at least one metadata_field"),
    (["signature_def", "tags"], "Metadata field tags is not supported"),
])
def test_metadata_fields_are_checked_before_the_model(one_version, fields, message):
    unknown_model = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec("cats"), metadata_field=fields)
    with raises(INVALID, message):
        model_metadata(one_version, unknown_model)


# ---- issue #21: flags as TF Serving parses and refuses them (main.cc, server.cc) ------------------


@pytest.mark.parametrize("flag, value", [
    ("file_system_poll_wait_seconds", "0.5"), ("file_system_poll_wait_seconds", "1e3"),
    ("file_system_poll_wait_seconds", "10 "), ("port", "99999999999"), ("load_retry_interval_micros", "1.5"),
    ("enable_batching", "maybe"),
])
def test_values_tensorflows_flag_parser_cannot_read_stop_the_server(flag, value, capsys):
    with pytest.raises(SystemExit) as caught:
        parse_flags([f"--{flag}={value}"])
    assert caught.value.code == 255  # main.cc: usage, then return -1
    assert f"Couldn't interpret value {value} for flag {flag}." in capsys.readouterr().err


def test_whole_number_flags_read_as_sscanf_reads_them():
    assert parse_flags(["--file_system_poll_wait_seconds= 10"]).file_system_poll_wait_seconds == 10
    assert parse_flags(["--file_system_poll_wait_seconds=-1"]).file_system_poll_wait_seconds == -1
    assert parse_flags(["--max_num_load_retries=+3"]).max_num_load_retries == 3


def test_standin_poll_ms_is_the_only_way_to_poll_faster_than_a_second():
    assert poll_seconds(parse_flags(["--file_system_poll_wait_seconds=10"])) == 10
    assert poll_seconds(parse_flags(["--file_system_poll_wait_seconds=10", "--standin_poll_ms=50"])) == 0.05
    assert poll_flag(0.2) == "--standin_poll_ms=200" and poll_flag(10.0) == "--file_system_poll_wait_seconds=10"


@pytest.mark.parametrize("flags, error", [
    ([f"--batching_parameters_file={TFSERVING_CONFIGS / 'batching.config'}"],
     "INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
     "server_options.enable_batching to true."),
    (["--enable_batching=false", f"--batching_parameters_file={TFSERVING_CONFIGS / 'batching.config'}"],
     "INVALID_ARGUMENT: server_options.batching_parameters_file is set without setting "
     "server_options.enable_batching to true."),
    (["--grpc_channel_arguments=grpc.max_connection_age_ms"],
     "INVALID_ARGUMENT: --grpc_channel_arguments: 'grpc.max_connection_age_ms' is not key=value"),
])
def test_flags_that_stop_start_up(tmp_path, flags, error, capsys):
    assert standin_main([f"--model_base_path={tmp_path}", *flags]) == 255
    assert capsys.readouterr().out == f"Failed to start server. Error: {error}\n"


def test_batching_parameters_file_needs_enable_batching():
    deployed = f"--batching_parameters_file={TFSERVING_CONFIGS / 'batching.config'}"
    assert batching_from_flags(parse_flags(["--enable_batching", deployed])) == deployed_batching()
    assert batching_from_flags(parse_flags(["--enable_batching"])) == Batching()
    assert batching_from_flags(parse_flags([])) is None


def test_batching_parameters_accept_large_batch_splitting():
    def parsed(text: str) -> Batching:
        return Batching.from_parameters(configs.parse_config(text, configs.BATCHING_PARAMETERS))

    splitting = "max_batch_size { value: 128 } enable_large_batch_splitting { value: true } "
    assert parsed(splitting + "max_execution_batch_size { value: 64 }") == Batching(128, 64)
    assert parsed(splitting) == Batching(128, 128)  # GetQueueOptions: max_batch_size's value
    assert parsed("max_batch_size { value: 128 } max_execution_batch_size { value: 64 }") == Batching(128)
    parsed(splitting + "max_execution_batch_size { value: 64 }").check_queue()
    with raises(INVALID, "Task size 129 is larger than maximum input batch size 128"):  # splitting or not
        Batching(128, 64).check_inputs([[129]])


def test_large_batch_splitting_refuses_an_execution_batch_above_the_input_limit():
    with raises(INVALID, "When enable_large_batch_splitting is true, input_batch_size_limit must be greater "
                         "than or equal to max_execution_batch_size.164128"):
        Batching(64, 128).check_queue()


# ---- issue #21: --grpc_channel_arguments (server.cc parseGrpcChannelArgs) ---------------------------


@pytest.mark.parametrize("text, arguments", [
    ("", []),
    ("grpc.max_connection_age_ms=30000", [("grpc.max_connection_age_ms", 30000)]),
    ("grpc.max_connection_age_ms=1000,grpc.max_connection_age_grace_ms= 500 ",
     [("grpc.max_connection_age_ms", 1000), ("grpc.max_connection_age_grace_ms", 500)]),
    ("grpc.primary_user_agent=faces", [("grpc.primary_user_agent", "faces")]),
    ("a=99999999999", [("a", "99999999999")]),  # not an int32: passed as a string
    ("a=1=2", [("a", 1)]),  # what follows a second "=" is dropped
])
def test_grpc_channel_arguments_parse_like_server_cc(text, arguments):
    assert channel_arguments(text) == arguments


@pytest.mark.parametrize("text", ["a", "a=1,,b=2", "a=1,"])
def test_grpc_channel_arguments_without_a_value_are_refused(text):
    with pytest.raises(ValueError, match="is not key=value"):
        channel_arguments(text)


# ---- with real SavedModels and servers (slow) ---------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_model(tmp_path_factory) -> Path:
    """A SavedModel with BadSignatures' signatures ("good" as serving_default), no warm-up file."""
    path = tmp_path_factory.mktemp("bad") / "1"
    module = BadSignatures()
    names = ["no_input", "scalar_input", "two_inputs", "scalar_output", "wrong_batch"]
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.good,
                                                        **{name: getattr(module, name) for name in names}})
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A version exported by the project (warm-up requests of batch 1 and 4, and `metadata`)."""
    info = tiny_info(("alice", "bob", "carol"))
    return publish(tiny_model(3, favourite=1), info, tmp_path_factory.mktemp("exported"), 1)


@pytest.mark.slow
@pytest.mark.parametrize("signature, inputs, code, message", [
    ("no_input", {}, INVALID, "Batching Run() must have at least one input tensor"),
    ("scalar_input", {"x": np.float32(1)}, INVALID, "Batching Run() input tensors must have at least one dimension"),
    ("two_inputs", {"a": np.zeros(2, np.float32), "b": np.zeros(3, np.float32)}, INVALID,
     "Batching Run() input tensors must have equal 0th-dimension size"),
    ("serving_default", {"x": np.zeros(5, np.float32)}, INVALID,
     "Task size 5 is larger than maximum input batch size 4"),
    ("scalar_output", {"x": np.zeros(2, np.float32)}, FAILED, "Batched output tensor has 0 dimensions"),
    ("wrong_batch", {"x": np.zeros(2, np.float32)}, FAILED, "Batched output tensor's 0th dimension does not equal"),
])
def test_predict_path_applies_batching_to_every_signature(bad_model, signature, inputs, code, message):
    servable = load_servable(bad_model, 1)
    assert predict(servable, request(signature, **inputs)).model_spec.version.value == 1  # batching off: runs
    with raises(code, message):
        predict(servable, request(signature, **inputs), Batching(4))


@pytest.mark.slow
def test_grpc_predict_and_metadata_with_batching(bad_model, tmp_path):
    copy_version(bad_model, tmp_path, 1)
    with StandIn("m", tmp_path, poll_s=0, batching=Batching(4)) as server, \
            grpc.insecure_channel(server.address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request("serving_default", "m", x=np.ones(4, np.float32)), timeout=10)
        assert list(tf.make_ndarray(response.outputs["y"])) == [2.0] * 4
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request("no_input", "m"), timeout=10)
        assert caught.value.code() == INVALID
        assert caught.value.details() == "Batching Run() must have at least one input tensor"
        metadata = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec("m"),
                                                                  metadata_field=["signature_def"])
        assert stub.GetModelMetadata(metadata, timeout=10).model_spec.version.value == 1  # runs no session


@pytest.mark.slow
def test_warmup_refused_by_batching_fails_the_version_and_old_one_serves(exported, tmp_path):
    base = tmp_path / "faces"
    copy_version(exported, base, 1)
    with StandIn("faces", base, poll_s=0.05, batching=Batching(4)) as server:
        staging = tmp_path / "v2"
        copy_version(exported, tmp_path, 99).rename(staging)
        write_warmup(staging.joinpath(*WARMUP_PATH), predict_log(request(faces=faces(8))))
        staging.rename(base / "2")
        wait_for(lambda: 2 in {s.version for s in server.versions.statuses(spec())})
        wait_for(lambda: server.versions.statuses(spec(version=2))[0].state == State.END)
        (failed,) = server.versions.statuses(spec(version=2))
        assert failed.status.error_message == "Task size 8 is larger than maximum input batch size 4"
        with grpc.insecure_channel(server.address) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            assert stub.Predict(request(faces=faces(1)), timeout=10).model_spec.version.value == 1


@pytest.mark.slow
def test_ports_open_only_once_a_version_is_available(exported, tmp_path):
    base, port, rest_port = tmp_path / "faces", free_port(), free_port()
    server = StandIn("faces", base, poll_s=0.05, wait_for_version=True, metrics_path="/metrics")
    started = threading.Thread(target=server.start, args=(port, rest_port), daemon=True)
    started.start()
    time.sleep(0.5)
    assert not port_open(port) and not port_open(rest_port)
    copy_version(exported, base, 1)
    started.join(60)
    try:
        assert port_open(port) and port_open(rest_port)
        status, content_type, body = http_get(f"{server.rest_url}/v1/models/faces")
        assert (status, content_type) == (200, "application/json")
        assert json.loads(body)["model_version_status"][0]["state"] == "AVAILABLE"
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize("poll_s, polls_at_start, polls_later", [(0.05, 1, True), (0, 1, False), (-1, 0, False)])
def test_poll_interval(tmp_path, poll_s, polls_at_start, polls_later):
    server = StandIn("faces", tmp_path, poll_s=poll_s)
    calls = []
    server.versions.poll = lambda: calls.append(time.monotonic())
    with server:
        assert len(calls) == polls_at_start
        time.sleep(0.4)
        assert (len(calls) > polls_at_start + 2) == polls_later


@pytest.mark.slow
def test_restart_rebinds_the_same_ports(exported, tmp_path):
    copy_version(exported, tmp_path, 1)
    server = StandIn("faces", tmp_path).start(rest_port=0)
    port, rest_port = server.port, server.rest_port
    server.stop()
    assert not port_open(port)
    server.start()
    try:
        assert (server.port, server.rest_port) == (port, rest_port)
        assert http_get(f"{server.rest_url}/v1/models/faces")[0] == 200
    finally:
        server.stop()


@pytest.mark.slow
def test_ports_stay_closed_while_the_first_version_is_retried(exported, tmp_path, caplog):
    # TF Serving retries a version whose files are not all there yet; ServerCore::Create waits.
    base, port = tmp_path / "faces", free_port()
    folders(base, "1")  # no saved_model.pb yet
    server = StandIn("faces", base, poll_s=0.05, wait_for_version=True, retries=LoadRetries(5, 0.5))
    started = threading.Thread(target=server.start, args=(port,), daemon=True)
    started.start()
    try:
        wait_for(lambda: "Loading servable: {name: faces version: 1} failed: NOT_FOUND" in caplog.text)
        assert not port_open(port)
        assert [(s.version, s.state) for s in server.versions.statuses(spec())] == [(1, State.LOADING)]
        shutil.copytree(exported, base / "1", dirs_exist_ok=True)
        started.join(60)
        assert port_open(port)
        assert [(s.version, s.state) for s in server.versions.statuses(spec())] == [(1, State.AVAILABLE)]
    finally:
        server.stop()


@pytest.mark.slow
def test_large_batch_splitting_above_the_input_limit_fails_the_load(exported, tmp_path):
    copy_version(exported, tmp_path, 1)
    server = StandIn("faces", tmp_path, poll_s=0, batching=Batching(64, 128))
    server.start()
    server.stop()
    assert server.versions.first_load.error.message.startswith("When enable_large_batch_splitting is true")


@pytest.mark.slow
@pytest.mark.parametrize("as_content", [False, True])
def test_grpc_predict_answers_in_the_fields_the_service_decodes(exported, tmp_path, as_content):
    copy_version(exported, tmp_path, 1)
    with StandIn("faces", tmp_path, poll_s=0, as_content=as_content) as server, \
            grpc.insecure_channel(server.address) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        outputs = stub.Predict(request(faces=faces(2)), timeout=10).outputs
        info = stub.Predict(request(METADATA_SIGNATURE, **metadata_inputs()), timeout=10).outputs[MODEL_INFO_KEY]
    for proto in outputs.values():
        assert bool(proto.tensor_content) == as_content and bool(proto.float_val) != as_content
        np.testing.assert_array_equal(to_array(proto), tf.make_ndarray(proto))
    assert outputs["probabilities"].tensor_shape.dim[0].size == 2
    if not as_content:  # strings in tensor_content (EncodeStringList) are beyond facecore's to_array
        assert info_from_output(to_array(info)).class_names == ("alice", "bob", "carol")


@pytest.mark.slow
def test_rest_metadata_answers_once_a_version_is_available(exported, tmp_path):
    # The k8s readiness probe: GET /v1/models/<name>/metadata fails until a version serves.
    server = StandIn("faces", tmp_path, poll_s=0.05).start(rest_port=0)
    try:
        status, content_type, body = http_get(f"{server.rest_url}/v1/models/faces/metadata")
        assert (status, content_type) == (404, "application/json")
        assert json.loads(body) == {"error": "Servable not found for request: Latest(faces)"}
        copy_version(exported, tmp_path, 1)
        wait_for(lambda: http_get(f"{server.rest_url}/v1/models/faces/metadata")[0] == 200)
        body = json.loads(http_get(f"{server.rest_url}/v1/models/faces/versions/1/metadata")[2])
    finally:
        server.stop()
    assert body["model_spec"]["version"] == "1"
    assert set(body["metadata"]["signature_def"]["signature_def"]) >= {"serving_default", METADATA_SIGNATURE}


class Connectivity:
    """A channel's connectivity states, in order."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.states: list[grpc.ChannelConnectivity] = []
        channel.subscribe(self.states.append, try_to_connect=True)

    def count(self, state: grpc.ChannelConnectivity) -> int:
        return self.states.count(state)


@pytest.mark.slow
def test_max_connection_age_closes_connections_and_calls_go_on(exported, tmp_path):
    # --grpc_channel_arguments=grpc.max_connection_age_ms=1000: the server sends GOAWAY after ~1 s
    # (±10% jitter); the client reconnects, so a client with round_robin re-resolves and finds new replicas.
    copy_version(exported, tmp_path, 1)
    arguments = channel_arguments("grpc.max_connection_age_ms=1000")
    with StandIn("faces", tmp_path, poll_s=0, channel_arguments=arguments) as server, \
            grpc.insecure_channel(server.address) as channel:
        seen = Connectivity(channel)
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        status = get_model_status_pb2.GetModelStatusRequest(model_spec=spec())
        calls, deadline = 0, time.monotonic() + 3.5
        while time.monotonic() < deadline:
            stub.GetModelStatus(status, timeout=5)  # raises if any call fails
            calls += 1
            time.sleep(0.02)
    ready = grpc.ChannelConnectivity.READY
    assert calls > 50 and seen.count(ready) >= 3, seen.states  # the first connection and at least two more
    assert grpc.ChannelConnectivity.IDLE in seen.states[seen.states.index(ready):]  # closed by the server


@pytest.mark.slow
def test_without_max_connection_age_one_connection_serves_every_call(exported, tmp_path):
    copy_version(exported, tmp_path, 1)
    with StandIn("faces", tmp_path, poll_s=0) as server, grpc.insecure_channel(server.address) as channel:
        seen = Connectivity(channel)
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(model_spec=spec()), timeout=5)
            time.sleep(0.02)
    assert seen.count(grpc.ChannelConnectivity.READY) == 1, seen.states


# ---- the command line, as a process (slow) --------------------------------------------------------------------


def standin_command(base: Path, port: int, rest_port: int, *extra: str) -> list[str]:
    deploy = TFSERVING_CONFIGS
    return [sys.executable, "-m", "tfserving_standin", f"--port={port}", f"--rest_api_port={rest_port}",
            "--model_name=faces", f"--model_base_path={base}", "--standin_poll_ms=100",
            f"--monitoring_config_file={deploy / 'monitoring.config'}", "--enable_batching=true",
            f"--batching_parameters_file={deploy / 'batching.config'}", "--tensorflow_intra_op_parallelism=1",
            "--tensorflow_inter_op_parallelism=1", *extra]


def standin_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT), str(REPO)]), "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.mark.slow
def test_cli_waits_for_a_version_then_serves_grpc_rest_and_metrics(exported, tmp_path):
    base, port, rest_port, log = tmp_path / "faces", free_port(), free_port(), tmp_path / "standin.log"
    base.mkdir()
    with open(log, "wb") as out:
        process = subprocess.Popen(standin_command(base, port, rest_port), cwd=tmp_path, env=standin_env(),
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "No versions of servable faces found under base path" in log.read_text(), timeout=90)
        assert not port_open(port) and not port_open(rest_port)
        copy_version(exported, base, 1)
        wait_for(lambda: port_open(rest_port), timeout=60)
        text = log.read_text()
        assert f"Running gRPC ModelServer at 0.0.0.0:{port} ..." in text
        assert f"Exporting HTTP/REST API at:localhost:{rest_port} ..." in text
        assert f"Finished reading warmup data for model at {base / '1'}" in text
        check_serving(port, rest_port)
    finally:
        process.terminate()
        assert process.wait(30) == 0


def check_serving(port: int, rest_port: int) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        assert stub.Predict(request(faces=faces(2)), timeout=10).model_spec.version.value == 1
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            get_model_status_pb2.GetModelStatusRequest(model_spec=spec()), timeout=10)
        assert [(s.version, s.state) for s in status.model_version_status] == [(1, State.AVAILABLE)]
    assert http_get(f"http://127.0.0.1:{rest_port}/v1/models/foo")[:2] == (404, "application/json")
    status, content_type, text = http_get(f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert ':tensorflow:serving:request_count{model_name="faces",status="OK"} 1' in text.splitlines()


@pytest.mark.slow
def test_cli_retries_the_first_version_with_ports_closed_then_exits(tmp_path):
    # loader_harness.cc Load() through util/retrier.cc Retry(); ServerCore::Create waits meanwhile,
    # so main.cc has opened no port; the last error fails start-up (exit status 255).
    base = folders(tmp_path / "faces", "1")  # no saved_model.pb
    config = tmp_path / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "faces" base_path: "{base}" '
                      'model_platform: "tensorflow" } }')
    port, rest_port, log = free_port(), free_port(), tmp_path / "standin.log"
    command = standin_command(tmp_path / "ignored", port, rest_port, f"--model_config_file={config}",
                              "--max_num_load_retries=2", "--load_retry_interval_micros=1000000")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=standin_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "failed: NOT_FOUND" in log.read_text(), timeout=90)
        failed_at = time.monotonic()
        assert not port_open(port) and not port_open(rest_port)
        assert process.wait(60) == 255
    finally:
        process.kill()
    text, servable = log.read_text(), "Loading servable: {name: faces version: 1}"
    assert time.monotonic() - failed_at >= 1.5  # two waits of 1 s after the first failure
    assert text.count(f"{servable} failed: NOT_FOUND: {NO_PB}") == 3
    assert f"Retrying of {servable} retry: 2" in text
    assert f"Retrying of {servable} exhausted max_num_load_retries: 2" in text
    assert ("Failed to start server. Error: UNKNOWN: 1 servable(s) did not become available: {{name: faces "
            f"version: 1}} due to error: NOT_FOUND: {NO_PB}\nSpecified file path: {base / '1'}}}, }}") in text
