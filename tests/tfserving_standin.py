"""A TF Serving stand-in: a real gRPC server with TF Serving's PredictionService and ModelService.

It serves the SavedModels under `<model_base_path>/<version>/` the way tensorflow_model_server
does with its default policy: it polls for numeric version folders, loads the newest, unloads
the older ones, answers Predict, GetModelMetadata and GetModelStatus, puts the serving version
in every `model_spec`, and fails with TF Serving's codes (NOT_FOUND, INVALID_ARGUMENT).
UNAVAILABLE is what a client sees when it is stopped.

    python tests/tfserving_standin.py --port=8500 --model_name=faces --model_base_path=models/faces
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2, get_model_status_pb2, model_service_pb2_grpc, predict_pb2,
    prediction_service_pb2_grpc,
)

DEFAULT_SIGNATURE = "serving_default"
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
State = get_model_status_pb2.ModelVersionStatus


class ServingError(Exception):
    """An error to answer with a gRPC status code, as TF Serving would."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Servable:
    """One loaded version."""

    version: int
    model: object
    signature_defs: dict


class ModelVersions:
    """The versions of one model on disk and in memory (TF Serving's 'latest 1' policy)."""

    def __init__(self, name: str, base: Path, labels: dict[str, int] | None = None) -> None:
        self.name = name
        self.base = Path(base)
        self.labels = dict(labels or {})
        self._loaded: dict[int, Servable] = {}
        self._ended: set[int] = set()
        self._lock = threading.Lock()

    def poll(self) -> None:
        """Load the newest version (and labelled ones); unload the rest once it is available."""
        on_disk = self._on_disk()
        wanted = ({max(on_disk)} if on_disk else set()) | (set(self.labels.values()) & set(on_disk))
        for version in sorted(wanted - set(self._loaded)):
            servable = self._load(version)
            with self._lock:
                self._loaded[version] = servable
        with self._lock:
            for version in set(self._loaded) - wanted:
                del self._loaded[version]
                self._ended.add(version)

    def _on_disk(self) -> list[int]:
        if not self.base.is_dir():
            return []
        return [int(p.name) for p in self.base.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()]

    def _load(self, version: int) -> Servable:
        path = self.base / str(version)
        saved = saved_model_pb2.SavedModel()
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
        return Servable(version, tf.saved_model.load(str(path)), dict(saved.meta_graphs[0].signature_def))

    def find(self, spec) -> Servable:
        """The servable a ModelSpec asks for, or TF Serving's error."""
        if spec.name != self.name:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: Latest({spec.name})")
        with self._lock:
            loaded = dict(self._loaded)
        if spec.WhichOneof("version_choice") == "version_label":
            if spec.version_label not in self.labels:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Unrecognized servable version label: {spec.version_label}")
            version = self.labels[spec.version_label]
        elif spec.HasField("version"):
            version = spec.version.value
        else:
            version = max(loaded, default=None)
        if version not in loaded:
            which = f"Specific({spec.name}, {version})" if version is not None else f"Latest({spec.name})"
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {which}")
        return loaded[version]

    def statuses(self, spec) -> list:
        """ModelVersionStatus of every version seen (or the one asked for)."""
        if spec.name != self.name:
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Could not find any versions of model {spec.name}")
        with self._lock:
            states = {v: State.END for v in self._ended} | {v: State.AVAILABLE for v in self._loaded}
        if spec.HasField("version"):
            if spec.version.value not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   f"Could not find version {spec.version.value} of model {spec.name}")
            states = {spec.version.value: states[spec.version.value]}
        return [State(version=v, state=s) for v, s in sorted(states.items())]


def _signature(servable: Servable, name: str):
    name = name or DEFAULT_SIGNATURE
    if name not in servable.signature_defs:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature key "{name}" not found.')
    return name, servable.signature_defs[name]


def _check_input(key: str, proto, expected) -> None:
    """Dtype and shape against the SignatureDef, as TensorFlow's session checks its feeds."""
    if proto.dtype != expected.dtype:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Expects arg '{key}' to be {tf.dtypes.as_dtype(expected.dtype).name} "
                           f"but {tf.dtypes.as_dtype(proto.dtype).name} is provided")
    if expected.tensor_shape.unknown_rank:
        return
    got = [d.size for d in proto.tensor_shape.dim]
    want = [d.size for d in expected.tensor_shape.dim]
    if len(got) != len(want) or any(w not in (-1, g) for g, w in zip(got, want)):
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"input '{key}' has shape {got}, the signature expects {want}")


def _run(servable: Servable, signature: str, inputs: dict) -> dict:
    try:
        outputs = servable.model.signatures[signature](**inputs)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as exc:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(exc).splitlines()[0]) from None
    return {key: value.numpy() for key, value in outputs.items()}


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata."""

    def __init__(self, versions: ModelVersions, delay_s: float = 0.0) -> None:
        self.versions = versions
        self.delay_s = delay_s

    def Predict(self, request, context):
        time.sleep(self.delay_s)
        try:
            return self._predict(request)
        except ServingError as exc:
            context.abort(exc.code, str(exc))

    def _predict(self, request):
        servable = self.versions.find(request.model_spec)
        name, signature = _signature(servable, request.model_spec.signature_name)
        if set(request.inputs) != set(signature.inputs):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"input tensor alias not found in signature: {sorted(request.inputs)}. "
                               f"Inputs expected to be in the set {{{','.join(sorted(signature.inputs))}}}.")
        wanted = list(request.output_filter) or list(signature.outputs)
        unknown = [key for key in wanted if key not in signature.outputs]
        if unknown:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"output tensor alias not found in signature: {unknown[0]}")
        for key, proto in request.inputs.items():
            _check_input(key, proto, signature.inputs[key])
        inputs = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        outputs = _run(servable, name, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = self.versions.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = name
        for key in wanted:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response

    def GetModelMetadata(self, request, context):
        try:
            servable = self.versions.find(request.model_spec)
            if list(request.metadata_field) != ["signature_def"]:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Metadata field {list(request.metadata_field)} is not supported")
        except ServingError as exc:
            context.abort(exc.code, str(exc))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = self.versions.name
        response.model_spec.version.value = servable.version
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, value in servable.signature_defs.items():
            signatures.signature_def[key].CopyFrom(value)
        response.metadata["signature_def"].Pack(signatures)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus."""

    def __init__(self, versions: ModelVersions) -> None:
        self.versions = versions

    def GetModelStatus(self, request, context):
        try:
            statuses = self.versions.statuses(request.model_spec)
        except ServingError as exc:
            context.abort(exc.code, str(exc))
        return get_model_status_pb2.GetModelStatusResponse(model_version_status=statuses)


class StandIn:
    """The server: start() it, read `.address`, stop() it; polls the model folder meanwhile."""

    def __init__(self, model_name: str, base: Path, poll_s: float = 0.2, delay_s: float = 0.0,
                 labels: dict[str, int] | None = None) -> None:
        self.versions = ModelVersions(model_name, base, labels)
        self.predictions = PredictionServicer(self.versions, delay_s)
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._server = None
        self.port = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> "StandIn":
        self.versions.poll()
        self._stop.clear()
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(self.predictions, self._server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.versions), self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port or self.port or 0}")
        self._server.start()
        threading.Thread(target=self._poll_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop(grace=None).wait()

    def _poll_forever(self) -> None:
        while not self._stop.wait(self.poll_s):
            self.versions.poll()

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TF Serving stand-in (gRPC only)")
    parser.add_argument("--port", type=int, default=8500)
    parser.add_argument("--model_name", default="faces")
    parser.add_argument("--model_base_path", type=Path, required=True)
    parser.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0)
    parser.add_argument("--delay_s", type=float, default=0.0, help="sleep before each Predict (tests deadlines)")
    args = parser.parse_args(argv)
    server = StandIn(args.model_name, args.model_base_path, args.file_system_poll_wait_seconds, args.delay_s)
    server.start(args.port)
    print(f"listening on {server.address}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
